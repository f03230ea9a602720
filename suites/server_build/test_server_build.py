"""A server build checked through its iLO: model and firmware inventory, BIOS NIC enablement,
adapter port personality and DCB/LLDP agent (F10), the power-cycle capability (F07); and the
same hardware as its ESXi host sees it through esxcli: the storage adapters the ports'
personality gives, each port's vmnic driver, firmware and link (F10, F11).

Each server's BMC is read once per session. With --allow-disruptive (and a lab that allows it)
the first test fixes adapter personality and LLDP agent through Redfish where the BMC can write
them (iLO 5), resets, waits for FinishedPost and verifies; the checks after it then judge the
fixed server. Where the BMC cannot (iLO 4) it says what to change by hand in System Utilities.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import allure
import pytest

from harness.checks.finding import Finding
from harness.checks.host_view import check_adapter_port_nic, check_storage_adapters
from harness.checks.server import (
    about,
    check_adapter_ports,
    check_bios_nics,
    check_inventory,
    check_power_cycle,
    find_adapter,
    plan_adapter_fixes,
)
from harness.drivers.redfish import (
    RedfishAuthError,
    RedfishConnectionError,
    RedfishError,
    RemediationRefused,
    ServerFacts,
    power_cycle,
    read_server,
    remediate,
)
from harness.errors import NotProvided
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.assertions import record_findings
from harness.pytest_plugin.factlog import record_server
from harness.pytest_plugin.fixtures import BmcSessions, HostViews

pytestmark = pytest.mark.needs("redfish")


class ServerFactsCache:
    """ServerFacts per server, walked on first use; a failed walk stays failed. Each walk is
    kept for the run history (the latest one per server)."""

    def __init__(self, bmcs: BmcSessions, lab: Lab, config: pytest.Config) -> None:
        self.bmcs, self.lab, self.config = bmcs, lab, config
        self._facts: dict[str, ServerFacts] = {}
        self._failed: dict[str, tuple[bool, str]] = {}  # server -> (skip?, why)

    def of(self, server: str) -> ServerFacts:
        """The server's facts; skips when its BMC cannot be reached, fails when it answers
        with something the walk cannot use."""
        __tracebackhide__ = True
        if server not in self._facts and server not in self._failed:
            bmc = self.bmcs.session(server)
            try:
                self._facts[server] = read_server(bmc)
                record_server(self.config, self.lab, self._facts[server])
            except (RedfishConnectionError, RedfishAuthError) as exc:
                self._failed[server] = (True, f"BMC of {server} cannot be read: {exc}")
            except RedfishError as exc:
                self._failed[server] = (False, f"reading {server} over Redfish failed: {exc}")
        if server in self._failed:
            skip, why = self._failed[server]
            if skip:
                pytest.skip(why)
            pytest.fail(why, pytrace=False)
        return self._facts[server]

    def forget(self, server: str) -> None:
        """Drop what was read, so the next test reads the server as it is now."""
        self._facts.pop(server, None)
        self._failed.pop(server, None)


@pytest.fixture(scope="session")
def server_facts(bmcs: BmcSessions, lab: Lab, pytestconfig: pytest.Config) -> ServerFactsCache:
    """Each server's facts from its iLO, one walk per BMC per session."""
    return ServerFactsCache(bmcs, lab, pytestconfig)


def judge(findings: Iterable[Finding]) -> None:
    """Fail on errors and warnings; when only `info` findings remain (what the BMC cannot show,
    with what to check by hand) skip with them, since nothing was verified."""
    __tracebackhide__ = True
    findings = list(findings)
    assert_no_findings(f for f in findings if f.severity != "info")
    if findings:
        record_findings(findings)
        pytest.skip("not verifiable through this BMC:\n" + "\n".join(f.text() for f in findings))


def _server(subject: str) -> str:
    return subject.split("/", 1)[0]


@pytest.mark.incident("F10")
@pytest.mark.disruptive
@pytest.mark.per_subject("servers")
def test_fix_adapter_settings(lab: Lab, bmcs: BmcSessions, server_facts: ServerFactsCache,
                              subject: str) -> None:
    """Set adapter personality and LLDP agent as the lab says through the Settings objects
    (If-Match), reset, wait for FinishedPost, verify from the settings messages and a re-read."""
    bmc = bmcs.session(subject)
    facts = server_facts.of(subject)
    plan = plan_adapter_fixes(lab, subject, facts)
    if plan.empty:
        pytest.skip(f"{subject}: adapter personality and LLDP agent already as the lab says")
    allure.attach(json.dumps({"changes": [c.description for c in plan.changes],
                              "manual": list(plan.manual), "unverified": list(plan.unverified)},
                             indent=2), name=f"fix plan {subject}",
                  attachment_type=allure.attachment_type.JSON)
    try:
        result = remediate(bmc, facts.system_uri, plan)
    except RemediationRefused as exc:
        if plan.manual:  # known wrong and only a hand can fix it
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    except RedfishError as exc:
        pytest.fail(f"{subject}: the fix failed: {exc}", pytrace=False)
    finally:
        server_facts.forget(subject)
    if result is not None:
        allure.attach(json.dumps({"reset": result.reset.reset_type,
                                  "states": [list(s) for s in result.reset.states],
                                  "requests": result.requests,
                                  "outcomes": [{"resource": o.resource,
                                                "messages": [m.text() for m in o.messages]}
                                               for o in result.outcomes]}, indent=2),
                      name=f"applied {subject}", attachment_type=allure.attachment_type.JSON)
    after = check_adapter_ports(lab, subject, server_facts.of(subject))
    assert_no_findings(f for f in after if f.severity != "info")


@pytest.mark.incident("F10")
@pytest.mark.per_subject("servers")
def test_inventory_matches_lab(lab: Lab, server_facts: ServerFactsCache, subject: str) -> None:
    """Model, serial, iLO generation and firmware, adapters and their firmware as the lab
    lists them."""
    judge(check_inventory(lab, subject, server_facts.of(subject)))


@pytest.mark.incident("F10")
@pytest.mark.per_subject("servers")
def test_bios_nic_enablement(lab: Lab, server_facts: ServerFactsCache, subject: str) -> None:
    """Embedded NIC, FlexibleLOM and PCIe slots enabled or disabled in BIOS as the lab says."""
    judge(check_bios_nics(lab, subject, server_facts.of(subject)))


@pytest.mark.incident("F10")
@pytest.mark.per_subject("adapter_ports")
def test_adapter_port_personality_and_dcb(lab: Lab, server_facts: ServerFactsCache,
                                          subject: str) -> None:
    """The port's personality (Ethernet/iSCSI/FCoE) and its adapter's DCB/LLDP agent as the lab
    says."""
    server = _server(subject)
    judge(about(check_adapter_ports(lab, server, server_facts.of(server)), subject))


# -- the server as its ESXi host sees it (esxcli through vCenter) ------------------------------

def _host_of(lab: Lab, server: str) -> str:
    host = next((h for h, spec in sorted(lab.hosts.items()) if spec.server == server), None)
    if host is None:
        raise NotProvided(f"the lab runs no ESXi host on {server}: nothing to ask about it")
    return host


def _port(subject: str) -> tuple[str, str, int]:
    server, adapter, port = subject.split("/")
    return server, adapter, int(port.removeprefix("port"))


@pytest.mark.incident("F10")
@pytest.mark.needs("vsphere")
@pytest.mark.per_subject("servers")
def test_host_storage_adapters_follow_personality(lab: Lab, server_facts: ServerFactsCache,
                                                  host_views: HostViews, subject: str) -> None:
    """The host lists the storage adapters its converged adapters' personality gives
    (`esxcli storage core adapter list`): a dependent iSCSI adapter per port in iSCSI
    personality; FlexFabric ports left in FCoE personality take them away, and the finding
    names the personality the BMC reports."""
    view = host_views.of(_host_of(lab, subject))
    assert_no_findings(check_storage_adapters(lab, subject, view, server_facts.of(subject)))


def _host_nic_findings(lab: Lab, server_facts: ServerFactsCache, host_views: HostViews,
                       subject: str) -> list[Finding]:
    server, aname, number = _port(subject)
    view = host_views.of(_host_of(lab, server))
    reported = find_adapter(server_facts.of(server), lab.servers[server].adapters[aname])
    return check_adapter_port_nic(lab, server, aname, number, view,
                                  reported.firmware if reported is not None else None)


@pytest.mark.incident("F10")
@pytest.mark.needs("vsphere")
@pytest.mark.per_subject("adapter_ports")
def test_host_nic_driver_and_firmware(lab: Lab, server_facts: ServerFactsCache,
                                      host_views: HostViews, subject: str) -> None:
    """The port's vmnic, as its host sees it (`esxcli network nic list` / `get`): the driver ESXi
    uses for the adapter model and the firmware the BMC's adapter inventory reports."""
    assert_no_findings(f for f in _host_nic_findings(lab, server_facts, host_views, subject)
                       if f.id == "F10")


@pytest.mark.incident("F11")
@pytest.mark.needs("vsphere")
@pytest.mark.per_subject("adapter_ports")
def test_host_nic_link(lab: Lab, server_facts: ServerFactsCache, host_views: HostViews,
                       subject: str) -> None:
    """A port the cabling plan cables has link on its host, at the adapter's speed, full
    duplex (a silent uplink keeps its link: F11's wire tests catch that one)."""
    assert_no_findings(f for f in _host_nic_findings(lab, server_facts, host_views, subject)
                       if f.id == "F11")


@pytest.mark.incident("F07")
@pytest.mark.per_subject("servers")
def test_power_cycle_capability(lab: Lab, server_facts: ServerFactsCache, subject: str) -> None:
    """The harness can power-cycle the server as its form factor needs: a Redfish ForceOff/On
    for a rack server, an Onboard Administrator e-fuse reset for a blade."""
    judge(check_power_cycle(lab, subject, server_facts.of(subject)))


@pytest.mark.incident("F07")
@pytest.mark.disruptive
@pytest.mark.per_subject("servers")
def test_power_cycle_drill(lab: Lab, bmcs: BmcSessions, server_facts: ServerFactsCache,
                           subject: str) -> None:
    """The drill F07 needed: power the server fully off and on through its BMC, and prove it
    came back (power Off seen, then On at FinishedPost)."""
    facts = server_facts.of(subject)
    if any(f.severity != "info" for f in check_power_cycle(lab, subject, facts)):
        pytest.skip(f"{subject}: no power cycle labharness can do through the BMC (a blade "
                    "needs its OA's e-fuse reset; test_power_cycle_capability says why)")
    bmc = bmcs.session(subject)
    try:
        record = power_cycle(bmc, facts.system_uri,
                             blade_enclosure=lab.servers[subject].blade_enclosure)
    except RedfishError as exc:
        pytest.fail(f"{subject}: the power cycle failed: {exc}", pytrace=False)
    finally:
        server_facts.forget(subject)
    allure.attach(json.dumps({"reset": record.reset_type, "elapsed_s": record.elapsed_s,
                              "states": [list(s) for s in record.states]}, indent=2),
                  name=f"power cycle {subject}", attachment_type=allure.attachment_type.JSON)
    powers = [power for power, _ in record.states]
    assert "Off" in powers, f"{subject}: the BMC never reported power Off: {record.states}"
    assert record.states[-1] == ("On", "FinishedPost"), record.states
    assert server_facts.of(subject).power.power_state == "On"  # a fresh walk agrees
