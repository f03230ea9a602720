"""Server-build checks: what a server's iLO reports (ServerFacts) against what the lab says.

Pure functions: the suites walk each BMC once and pass the facts in. Subjects use the lab's
names: `srv-esx03` (the server), `srv-esx03/bios`, `srv-esx03/flexlom` (an adapter),
`srv-esx03/flexlom/port1` (an adapter port). Findings that need a change say how to make it:
through Redfish where the BMC allows it (iLO 5 with the adapter's Redfish configuration enabled),
else by hand in System Utilities, with the menu path to follow.

`plan_adapter_fixes` turns the F10 findings into a FixPlan the Redfish driver can carry out
(`harness.drivers.redfish.settings.remediate`), or into manual steps where it cannot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from harness.checks.finding import Finding, Severity
from harness.facts import JsonValue
from harness.facts.redfish import AdapterFacts, FixPlan, FunctionFacts, ServerFacts, SettingsChange
from harness.lab.catalog import ADAPTERS
from harness.lab.model import Adapter, HpeServer, Lab

# lab personality -> Redfish NetDevFuncType
FUNC_TYPE = {"Ethernet": "Ethernet", "iSCSI": "iSCSI", "FCoE": "FibreChannelOverEthernet"}
LLDP_AGENT_PATH = "Oem/Hpe/Controllers/0/EmbeddedLLDPFunctions/Enabled"
UNVERIFIABLE: Severity = "info"  # severity of "the BMC cannot show this": the suites skip on it

def about(findings: Iterable[Finding], subject: str) -> list[Finding]:
    """Findings about a subject or anything inside it (`srv-esx03` covers `srv-esx03/bios`)."""
    return [f for f in findings if f.subject == subject or f.subject.startswith(subject + "/")]


# ---------------------------------------------------------------------------------------------
# helpers


def find_adapter(facts: ServerFacts, adapter: Adapter) -> AdapterFacts | None:
    """The reported adapter in the lab adapter's slot, else the only one of its model."""
    in_slot = facts.adapter_in(adapter.slot)
    if in_slot is not None:
        return in_slot
    same = [a for a in facts.adapters if adapter.model in a.name]
    return same[0] if len(same) == 1 else None


def _evidence(facts: ServerFacts, **extra: JsonValue) -> dict[str, JsonValue]:
    return {"bmc": facts.url, "ilo": f"{facts.manager_type} {facts.firmware or '?'}", **extra}


def manual_step(server: str, adapter: Adapter, port: int, item: str) -> str:
    """Where to change an adapter port setting by hand, in System Utilities (UEFI HII).

    Menu labels follow HPE's UEFI System Utilities for these adapters (not verified on a real
    Gen9 here); the path is System Configuration > adapter > port > Device Hardware
    Configuration.
    """
    full = ADAPTERS[adapter.model].full_name
    return (f"reboot {server}, press F9 at POST (System Utilities) > System Configuration > "
            f"{full} > Port {port} > Device Hardware Configuration > {item}; save with F10, "
            "exit and reboot")


def personality_item(personality: str) -> str:
    if personality == "Ethernet":
        return "Storage Personality: none (NIC only)"
    return f"Storage Personality = {personality}"


def dcb_item(enabled: bool) -> str:
    return f"DCB Protocol = {'Enabled' if enabled else 'Disabled'} (the embedded LLDP/DCBX agent)"


def _why_not_writable(facts: ServerFacts, reported: AdapterFacts | None) -> str | None:
    """Why Redfish cannot change this adapter, or None when it can."""
    if facts.generation == "ilo4":
        return ("iLO 4 exposes adapters read-only over Redfish (HpBaseNetworkAdapter: no "
                "personality, no DCB setting)")
    if reported is None:
        return "the BMC does not report this adapter"
    if reported.source != "NetworkAdapter":
        return "this adapter has no DMTF NetworkAdapter model on this iLO 5 (read-only view)"
    if not reported.writable:
        state = reported.redfish_configuration or "not reported"
        return (f"the adapter's RedfishConfiguration is {state}: Redfish may only read it "
                "(enabling it needs the adapter reset to factory defaults)")
    return None


# ---------------------------------------------------------------------------------------------
# Model and firmware inventory, part of validating a new server build (F10's story: the build
# as delivered differs from the build the lab describes)


def check_inventory(lab: Lab, name: str, facts: ServerFacts) -> list[Finding]:
    """Model, serial, iLO generation and firmware, adapters and their firmware as the lab lists
    them (filed under F10, the server-build incident)."""
    server = lab.servers[name]
    out: list[Finding] = []

    def finding(subject: str, message: str, cause: str, fix: str,
                evidence: dict[str, JsonValue], severity: Severity = "error") -> None:
        out.append(Finding("F10", severity, subject, message, cause=cause, fix=fix,
                           check="server-inventory", source="observed",
                           evidence=_evidence(facts, **evidence)))

    if facts.model is None or server.model not in facts.model:
        finding(name, f"iLO reports model {facts.model!r}, the lab says {server.model}",
                "a different server sits behind this BMC, or the lab names the wrong model",
                f"point inventory bmcs.{name} at the {server.model}'s iLO, or correct the lab",
                {"reported": facts.model, "lab": server.model})
    if facts.generation != server.bmc.kind:
        finding(name, f"the BMC is {facts.manager_type}, the lab says {server.bmc.kind}",
                "iLO generation decides what Redfish can configure (iLO 4 cannot write adapters)",
                f"set servers.{name}.bmc.kind to {facts.generation} or reach the right BMC",
                {"reported": facts.generation, "lab": server.bmc.kind})
    if server.serial is not None and facts.serial != server.serial:
        finding(name, f"serial number is {facts.serial!r}, the lab says {server.serial}",
                "the inventory reaches another server's iLO", f"check inventory bmcs.{name}.url",
                {"reported": facts.serial, "lab": server.serial})
    if server.bmc.firmware is not None and facts.firmware != server.bmc.firmware:
        finding(name, f"iLO firmware is {facts.firmware}, the lab says {server.bmc.firmware}",
                "the server was not updated to (or was updated past) the build's firmware set",
                f"flash iLO {server.bmc.firmware} (Service Pack for ProLiant, or iLO web "
                "interface > Firmware & OS Software), or update the lab",
                {"reported": facts.firmware, "lab": server.bmc.firmware})
    for aname, adapter in server.adapters.items():
        subject = f"{name}/{aname}"
        reported = find_adapter(facts, adapter)
        if reported is None:
            finding(subject, f"no {adapter.model} reported in slot {adapter.slot}",
                    "the adapter is missing, seated in another slot, or disabled in BIOS",
                    f"fit the {ADAPTERS[adapter.model].full_name} in {adapter.slot} and enable "
                    "the slot, or correct the lab",
                    {"slot": adapter.slot, "reported": [f"{a.slot}: {a.name}"
                                                        for a in facts.adapters]})
            continue
        if reported.slot is not None and reported.slot != adapter.slot:
            finding(subject, f"the {adapter.model} is reported in slot {reported.slot}, the lab "
                    f"says {adapter.slot}", "the adapter was seated in another slot: BIOS slot "
                    "settings and vmnic numbering follow the slot",
                    f"move the adapter to {adapter.slot}, or correct the lab",
                    {"reported": reported.slot, "lab": adapter.slot})
        if adapter.model not in reported.name:
            finding(subject, f"slot {adapter.slot} holds {reported.name!r}, the lab says "
                    f"{adapter.model}", "a different adapter was fitted",
                    f"fit the {ADAPTERS[adapter.model].full_name}, or correct the lab",
                    {"slot": adapter.slot, "reported": reported.name, "lab": adapter.model})
        if adapter.firmware is not None and reported.firmware != adapter.firmware:
            finding(subject, f"{adapter.model} firmware is {reported.firmware}, the lab says "
                    f"{adapter.firmware}",
                    "adapter firmware drifted from the build's set; personality and DCB "
                    "behaviour depend on it",
                    f"flash {adapter.model} firmware {adapter.firmware} (SPP), or update the lab",
                    {"reported": reported.firmware, "lab": adapter.firmware})
    return out


# ---------------------------------------------------------------------------------------------
# F10: BIOS NIC enablement


def bios_nic_attributes(server: HpeServer) -> list[tuple[str, bool, str]]:
    """(BIOS attribute, enabled per the lab, what it is) for every NIC device the lab names.

    PCIe slots the lab does not list are expected enabled when an adapter sits in them.
    """
    slots = dict(server.bios.pcie_slots)
    for adapter in server.adapters.values():
        if adapter.slot.startswith("pcie"):
            slots.setdefault(int(adapter.slot[4:]), True)
    return [("EmbNicEnable", server.bios.embedded, "the embedded LOM"),
            ("FlexLom1Enable", server.bios.flexlom, "FlexibleLOM 1"),
            *[(f"PciSlot{n}Enable", on, f"PCIe slot {n}") for n, on in sorted(slots.items())]]


def check_bios_nics(lab: Lab, name: str, facts: ServerFacts) -> list[Finding]:
    """F10: embedded NIC, FlexibleLOM and PCIe slots enabled or disabled in BIOS as the lab says
    (Gen9: Enabled/Disabled; Gen10: Auto/Disabled)."""
    server = lab.servers[name]
    on_value = "Auto" if facts.generation == "ilo5" else "Enabled"
    menu = ("System Options > Embedded Devices" if facts.generation == "ilo5"
            else "PCI Device Enable/Disable")
    out: list[Finding] = []
    for attribute, want, what in bios_nic_attributes(server):
        current = facts.bios.current.get(attribute)
        pending = facts.bios.pending.get(attribute, current)
        evidence = _evidence(facts, attribute=attribute, current=current, pending=pending,
                             lab="enabled" if want else "disabled")
        if current is None:
            out.append(Finding(
                "F10", "warning", f"{name}/bios", f"BIOS does not report {attribute} ({what})",
                cause="the BIOS attribute set differs from a DL360's; its NIC enablement cannot "
                      "be checked", fix=f"check {what} by hand in System Utilities > System "
                      f"Configuration > BIOS/Platform Configuration (RBSU) > {menu}",
                check="bios-nic-enablement", source="observed", evidence=evidence))
            continue
        if (current != "Disabled") == want:
            continue
        value = on_value if want else "Disabled"
        note = (f"; a pending change sets it to {pending} at the next reset"
                if pending != current else "")
        out.append(Finding(
            "F10", "error", f"{name}/bios",
            f"{what} is {'disabled' if want else 'enabled'} in BIOS ({attribute}={current}), "
            f"the lab says {'enabled' if want else 'disabled'}{note}",
            cause=("a disabled slot hides its adapter from ESXi: its vmnics are missing"
                   if want else "the lab wants this device off (unused ports, boot order)"),
            fix=f"set {attribute}={value}: PATCH {facts.bios.settings_uri} "
                f"{{{_bios_body(facts, attribute, value)}}} with If-Match, then reset; or by "
                f"hand in System Utilities > System Configuration > BIOS/Platform Configuration "
                f"(RBSU) > {menu}",
            check="bios-nic-enablement", source="observed", evidence=evidence))
    return out


def _bios_body(facts: ServerFacts, attribute: str, value: str) -> str:
    inner = f'"{attribute}": "{value}"'
    return f'"Attributes": {{{inner}}}' if facts.generation == "ilo5" else inner


# ---------------------------------------------------------------------------------------------
# F10: adapter port personality and DCB/LLDP agent


def _function_for(reported: AdapterFacts, port: int) -> FunctionFacts | None:
    funcs = reported.functions_on(port)
    storage = [f for f in funcs if f.func_type not in (None, "Ethernet")]
    return (storage or list(funcs))[0] if funcs else None


def check_adapter_ports(lab: Lab, name: str, facts: ServerFacts) -> list[Finding]:
    """F10: per adapter port, the personality (Ethernet/iSCSI/FCoE) and the adapter's embedded
    LLDP/DCBX agent (DCB) as the lab says.

    What the BMC cannot show (iLO 4 has no personality or DCB over Redfish) gives an `info`
    finding that says what to check by hand, never a pass.
    """
    server = lab.servers[name]
    out: list[Finding] = []
    for aname, adapter in server.adapters.items():
        reported = find_adapter(facts, adapter)
        model = ADAPTERS[adapter.model]
        blocked = _why_not_writable(facts, reported)
        for number, port in sorted(adapter.ports.items()):
            subject = f"{name}/{aname}/port{number}"
            label = f"{adapter.model} port {number}" + (f" ({port.vmnic})" if port.vmnic else "")
            if reported is None:
                out.append(Finding(
                    "F10", "error", subject, f"the BMC does not report the {adapter.model} in "
                    f"{adapter.slot}: {label} cannot be checked",
                    cause="adapter missing or its slot disabled (see the inventory and BIOS "
                          "findings)", fix="fit and enable the adapter, then re-run",
                    check="adapter-port", source="observed",
                    evidence=_evidence(facts, slot=adapter.slot)))
                continue
            out += _personality(facts, subject, label, name, adapter, number, port.personality,
                                reported, blocked)
            if adapter.lldp_agent is not None and model.dcb:
                out += _lldp_agent(facts, subject, label, name, adapter, number,
                                   adapter.lldp_agent, reported, blocked)
    return out


def _personality(facts: ServerFacts, subject: str, label: str, server: str, adapter: Adapter,
                 port: int, want: str, reported: AdapterFacts,
                 blocked: str | None) -> list[Finding]:
    if ADAPTERS[adapter.model].personalities == ("Ethernet",) and want == "Ethernet":
        return []  # a NIC-only adapter has no other personality to be in
    seen = reported.personality(port)
    manual = manual_step(server, adapter, port, personality_item(want))
    evidence = _evidence(facts, adapter=reported.name, port=port, lab=want, reported=seen,
                         functions=[f"{f.uri}: {f.func_type}"
                                    for f in reported.functions_on(port)])
    if seen is None:
        return [Finding(
            "F10", UNVERIFIABLE, subject,
            f"{label}: personality cannot be read through {facts.manager_type}",
            cause=blocked or "the BMC shows no network device function for this port",
            fix=f"check by hand that it is {want}: {manual}", check="adapter-port",
            source="observed", evidence=evidence)]
    if seen == want:
        return []
    fn = _function_for(reported, port)
    if blocked is None and fn is not None:
        fix = (f"set NetDevFuncType={FUNC_TYPE[want]} on {fn.uri} (PATCH its Settings object "
               f"{_settings_uri(fn)} with If-Match, then ComputerSystem.Reset and wait for "
               "FinishedPost); `labharness run --allow-disruptive` does this for you")
    else:
        fix = f"{blocked or 'Redfish cannot write it'}; by hand: {manual}"
    cause = {"FCoE": "in FCoE personality the port offers the host no iSCSI function: the "
                     "iSCSI vmknics bound to it get no adapter and storage traffic stops",
             "iSCSI": "in iSCSI personality the port offers no FCoE function to the host",
             "Ethernet": "a storage personality takes resources from the NIC function"}[seen] \
        if seen in ("FCoE", "iSCSI", "Ethernet") else f"the port's function is {seen}"
    return [Finding("F10", "error", subject, f"{label} is in {seen} personality, the lab says "
                    f"{want}", cause=cause, fix=fix, check="adapter-port", source="observed",
                    evidence=evidence)]


def _lldp_agent(facts: ServerFacts, subject: str, label: str, server: str, adapter: Adapter,
                port: int, want: bool, reported: AdapterFacts,
                blocked: str | None) -> list[Finding]:
    manual = manual_step(server, adapter, port, dcb_item(want))
    seen_port = reported.port(port)
    heard = seen_port.neighbour if seen_port is not None else None
    evidence = _evidence(facts, adapter=reported.name, lab=want, reported=reported.lldp_agent,
                         dcb_capable=reported.dcb_capable,
                         lldp_received=None if heard is None else
                         f"{heard.system_name} {heard.port_id}")
    state = "on" if want else "off"
    if want and reported.dcb_capable is False:
        return [Finding(
            "F10", "error", subject, f"{label}: the lab wants DCB (LLDP agent on) but the "
            "adapter reports no DataCenterBridging capability",
            cause="DCB needs a converged adapter; this one (or its firmware) cannot do it",
            fix="fit a DCB-capable adapter or update its firmware, or correct the lab",
            check="adapter-port", source="observed", evidence=evidence)]
    if reported.lldp_agent is None:
        return [Finding(
            "F10", UNVERIFIABLE, subject,
            f"{label}: the embedded LLDP/DCBX agent cannot be read through "
            f"{facts.manager_type}", cause=blocked or "the adapter does not report it",
            fix=f"check by hand that it is {state}: {manual}", check="adapter-port",
            source="observed", evidence=evidence)]
    if reported.lldp_agent == want:
        return []
    if blocked is None:
        fix = (f"set Oem.Hpe.Controllers[0].EmbeddedLLDPFunctions.Enabled={str(want).lower()} "
               f"on {reported.uri} (PATCH {reported.settings_uri or reported.uri + 'Settings/'} "
               "with If-Match, then ComputerSystem.Reset and wait for FinishedPost); "
               "`labharness run --allow-disruptive` does this for you")
    else:
        fix = f"{blocked}; by hand: {manual}"
    cause = ("with the embedded LLDP agent off the adapter runs no DCBX: the switch's DCB "
             "(PFC/ETS) port gets no peer and this port passes no traffic while its link stays "
             "up" if want else "the lab wants the agent off (no DCB on this link)")
    return [Finding("F10", "error", subject,
                    f"{label}: embedded LLDP/DCBX agent is {'off' if want else 'on'}, the lab "
                    f"says {state}", cause=cause, fix=fix, check="adapter-port",
                    source="observed", evidence=evidence)]


def _settings_uri(fn: FunctionFacts) -> str:
    if fn.result is not None and fn.result.settings_uri:
        return fn.result.settings_uri
    return fn.uri.rstrip("/") + "/Settings/"


def plan_adapter_fixes(lab: Lab, name: str, facts: ServerFacts) -> FixPlan:
    """F10 remediation: Redfish changes for what the facts show wrong and the BMC can write;
    manual steps for what is wrong but read-only; `unverified` steps for what the BMC cannot
    show at all (iLO 4), so the operator checks it by hand instead of guessing here."""
    server = lab.servers[name]
    changes: list[SettingsChange] = []
    manual: list[str] = []
    unverified: list[str] = []
    for aname, adapter in server.adapters.items():
        reported = find_adapter(facts, adapter)
        if reported is None:
            continue
        model = ADAPTERS[adapter.model]
        blocked = _why_not_writable(facts, reported)
        for number, port in sorted(adapter.ports.items()):
            subject = f"{name}/{aname}/port{number}"
            steps: list[tuple[str, str | None, bool]] = []  # (hand item, seen, matches)
            if model.personalities != ("Ethernet",):
                seen = reported.personality(number)
                steps.append((personality_item(port.personality), seen,
                              seen == port.personality))
                fn = _function_for(reported, number)
                want = FUNC_TYPE[port.personality]
                if seen not in (None, port.personality) and blocked is None and fn is not None:
                    if fn.capabilities and want not in fn.capabilities:
                        manual.append(f"{subject}: its function offers only "
                                      f"{', '.join(fn.capabilities)}, not {want}: fit an adapter "
                                      "that can, or correct the lab")
                    else:
                        changes.append(SettingsChange(
                            subject, fn.uri, _settings_uri(fn), {"NetDevFuncType": want},
                            {"NetDevFuncType": want},
                            f"{subject}: NetDevFuncType {fn.func_type} -> {want}"))
                    steps.pop()
            want_agent = adapter.lldp_agent
            if want_agent is not None and model.dcb:
                seen_agent = reported.lldp_agent
                steps.append((dcb_item(want_agent), None if seen_agent is None else
                              str(seen_agent), seen_agent == want_agent))
                if seen_agent not in (None, want_agent) and blocked is None:
                    if not any(c.resource == reported.uri for c in changes):
                        changes.append(SettingsChange(
                            f"{name}/{aname}", reported.uri,
                            reported.settings_uri or reported.uri.rstrip("/") + "/Settings/",
                            {"Oem": {"Hpe": {"Controllers": [
                                {"EmbeddedLLDPFunctions": {"Enabled": want_agent}}]}}},
                            {LLDP_AGENT_PATH: want_agent},
                            f"{name}/{aname}: EmbeddedLLDPFunctions.Enabled {seen_agent} -> "
                            f"{want_agent}"))
                    steps.pop()
            for item, seen_value, matches in steps:
                step = f"{subject}: {manual_step(name, adapter, number, item)}"
                if seen_value is None:
                    unverified.append(step)
                elif not matches:
                    manual.append(step)
    return FixPlan(name, tuple(changes), tuple(manual), tuple(unverified))


# ---------------------------------------------------------------------------------------------
# F07: power-cycle capability

PowerCycleMethod = Literal["redfish-reset", "oa-efuse-reset"]


def power_cycle_method(server: HpeServer) -> PowerCycleMethod:
    """How to really power-cycle this server: Redfish ForceOff/On for rack servers, an e-fuse
    reset from the Onboard Administrator for blades (F07)."""
    return "oa-efuse-reset" if server.blade_enclosure is not None else "redfish-reset"


def check_power_cycle(lab: Lab, name: str, facts: ServerFacts) -> list[Finding]:
    """F07: the harness can power-cycle the server the way its form factor needs, and the BMC
    offers what that takes (ComputerSystem.Reset with ForceOff and On for a rack server)."""
    server = lab.servers[name]
    evidence = _evidence(facts, model=facts.model, blade_enclosure=server.blade_enclosure,
                         reset_types=list(facts.power.reset.types) if facts.power.reset else [])
    if power_cycle_method(server) == "oa-efuse-reset":
        return [Finding(
            "F07", "warning", name, f"{name} is a blade in enclosure {server.blade_enclosure}: "
            "its power cycle is an e-fuse reset from the Onboard Administrator, which labharness "
            "does not drive yet",
            cause="a blade's mezzanine NIC stays on auxiliary power through a Redfish power "
                  "off/on; only the OA's e-fuse reset clears a wedged NIC driver",
            fix=f"on the OA of {server.blade_enclosure}: `reset server <bay>` (SSH to the OA "
                "CLI), then confirm the host returns",
            check="power-cycle", source="observed", evidence=evidence)]
    if facts.model is not None and " BL" in f" {facts.model}":
        return [Finding(
            "F07", "error", name, f"iLO reports a blade ({facts.model}) but the lab gives no "
            "blade_enclosure", cause="a Redfish off/on does not reset a blade's NIC (F07)",
            fix=f"set servers.{name}.blade_enclosure to its enclosure's Onboard Administrator",
            check="power-cycle", source="observed", evidence=evidence)]
    if facts.power.reset is None:
        return [Finding(
            "F07", "error", name, "the BMC advertises no ComputerSystem.Reset action",
            cause="without it the harness cannot power-cycle the server or apply pending "
                  "BIOS and adapter settings", fix="update iLO firmware; check the account "
                  "has the Virtual Power and Reset privilege",
            check="power-cycle", source="observed", evidence=evidence)]
    missing = [t for t in ("ForceOff", "On", "ForceRestart") if t not in facts.power.reset.types]
    if missing:
        return [Finding(
            "F07", "error", name, f"ComputerSystem.Reset lacks {', '.join(missing)} (offers "
            f"{', '.join(facts.power.reset.types) or 'nothing'})",
            cause="a full power cycle is ForceOff then On; applying settings needs ForceRestart",
            fix="update iLO firmware", check="power-cycle", source="observed",
            evidence=evidence)]
    return []


def findings_for_server(lab: Lab, name: str, facts: ServerFacts) -> list[Finding]:
    """Every server-build check on one server."""
    return [*check_inventory(lab, name, facts), *check_bios_nics(lab, name, facts),
            *check_adapter_ports(lab, name, facts), *check_power_cycle(lab, name, facts)]
