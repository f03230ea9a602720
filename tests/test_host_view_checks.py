"""The esxcli checks proven both ways on hand-made host output: silent on what a healthy host
reports, exact on each fault (F02 DF pings, F12 egress, F10 storage adapters and NICs, F11
link), and citing the host's own output."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from harness.checks.host_view import (
    check_adapter_port_nic,
    check_df_ping,
    check_storage_adapters,
    check_vmotion_egress,
    payload_sizes,
    route_for,
)
from harness.facts.esxcli import (
    HostNic,
    HostView,
    PingRequest,
    PingResult,
    PingTrace,
    RouteEntry,
    StorageAdapter,
    VmkInterface,
)
from harness.lab import load_lab
from tests.conftest import SIM_LAB

LAB = load_lab(SIM_LAB)


def _vmk(name: str, ip: str, stack: str = "defaultTcpipStack", mtu: int = 1500) -> VmkInterface:
    return VmkInterface(name, stack, True, mtu, "00:50:56:00:00:01", "vSwitch0", None, None,
                        ip, "255.255.255.0", "STATIC")


def _route(net: str, iface: str, gw: str = "0.0.0.0") -> RouteEntry:
    mask = "0.0.0.0" if net == "default" else "255.255.255.0"
    return RouteEntry(net, mask, gw, iface, "MANUAL")


def _nic(name: str, driver: str = "bnx2x", firmware: str = "bc 7.17.33", link: bool = True,
         speed: int = 10000) -> HostNic:
    return HostNic(name, "0000:0c:00.0", driver, True, link, speed if link else 0,
                   "Full" if link else "Half", "00:50:56:00:00:04", 9000, "QLogic 57810",
                   "1.0", firmware)


def _hba(name: str, driver: str) -> StorageAdapter:
    return StorageAdapter(name, driver, "online", f"iscsi.{name}", "", f"{driver} adapter")


def _view(vmks: list[VmkInterface], routes: list[RouteEntry],
          hbas: tuple[StorageAdapter, ...] = (), nics: dict[str, HostNic] | None = None
          ) -> HostView:
    return HostView("esx01", tuple(vmks), {"defaultTcpipStack": tuple(routes)}, nics or {}, (),
                    hbas)


HEALTHY = _view([_vmk("vmk0", "198.18.10.11"), _vmk("vmk1", "198.18.20.11", mtu=9000)],
                [_route("default", "vmk0", "198.18.10.1"), _route("198.18.10.0", "vmk0"),
                 _route("198.18.20.0", "vmk1")])
F12 = _view([_vmk("vmk0", "198.18.10.11"), _vmk("vmk1", "198.18.10.21", mtu=9000)],
            [_route("default", "vmk0", "198.18.10.1"), _route("198.18.10.0", "vmk0"),
             _route("198.18.10.0", "vmk1")])


def _ping(received: int = 3, fault: tuple[str, ...] = (),
          trace: tuple[PingTrace, ...] = ()) -> PingResult:
    req = PingRequest("esx01", "198.18.20.12", netstack="defaultTcpipStack", df=True, size=8972)
    return PingResult(req, 3, received, 0, 100 - 33 * received, 100, trace, fault)


def test_route_for_takes_the_longest_match_then_the_first_listed() -> None:
    routes = F12.routes["defaultTcpipStack"]
    assert route_for(routes, IPv4Address("198.18.10.22")) == routes[1]  # vmk0, listed first
    assert route_for(routes, IPv4Address("8.8.8.8")) == routes[0]
    assert route_for((), IPv4Address("8.8.8.8")) is None


def test_payload_sizes_add_jumbo_only_where_the_lab_says() -> None:
    assert payload_sizes(1600) == [1572]
    assert payload_sizes(9000) == [1572, 8972]


def test_vmotion_egress_healthy_is_silent() -> None:
    assert check_vmotion_egress(view=HEALTHY, vmk="vmk1", target="esx02/vmk1",
                                target_ip=IPv4Address("198.18.20.12"), ping=_ping()) == []


def test_vmotion_egress_names_the_vmknic_the_route_leaves_by() -> None:
    findings = check_vmotion_egress(view=F12, vmk="vmk1", target="esx02/vmk1",
                                    target_ip=IPv4Address("198.18.10.22"),
                                    ping=_ping(0, ("sendto() failed (Message too long)",)))
    assert [(f.id, f.subject, f.evidence["route_vmknic"]) for f in findings] == [
        ("F12", "esx01/vmk1", "vmk0")]
    assert "vmk0 and vmk1 share the subnet 198.18.10.0/24" in findings[0].cause
    routes = findings[0].evidence["routes"]
    assert isinstance(routes, list) and len(routes) == 3  # the host's own route list
    assert "esxcli network ip route ipv4 list" in str(findings[0].evidence["command"])


def test_vmotion_egress_right_route_but_no_answer_takes_the_explanation() -> None:
    findings = check_vmotion_egress(view=HEALTHY, vmk="vmk1", target="esx02/vmk1",
                                    target_ip=IPv4Address("198.18.20.12"), ping=_ping(0),
                                    down=("F11", "vmnic4 passes no traffic"))
    assert [(f.id, f.cause) for f in findings] == [("F11", "vmnic4 passes no traffic")]
    unexplained = check_vmotion_egress(view=HEALTHY, vmk="vmk1", target="esx02/vmk1",
                                       target_ip=IPv4Address("198.18.20.12"), ping=_ping(0))
    assert [f.id for f in unexplained] == ["F12"]


def _df(ping: PingResult, small: PingResult | None, vmk_mtu: int | None = 1600,
        down: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    return [(f.id, f.message) for f in check_df_ping(
        subject="esx01->esx02", what="VXLAN underlay", source="esx01/vmk4",
        target="esx02/vmk4", size=1572, ping=ping, reachable=small, vmk_mtu=vmk_mtu,
        down=down)]


def test_df_ping_passes_when_answered() -> None:
    assert _df(_ping(), None) == []


def test_df_ping_names_the_hop_from_frag_needed() -> None:
    frag = PingTrace("198.18.50.1", 0, 0, 0, 0, False, "Frag needed and DF set (mtu = 1500)")
    [(incident, message)] = _df(_ping(0, trace=(frag,)), _ping())
    assert incident == "F02" and "limited at hop 198.18.50.1 (MTU 1500)" in message


def test_df_ping_silent_drop_and_local_refusal() -> None:
    [(_, silent)] = _df(_ping(0), _ping())
    assert "no ICMP came back" in silent
    refused = check_df_ping(subject="s", what="VXLAN underlay", source="a", target="b",
                            size=1572, ping=_ping(0, ("sendto() failed (Message too long)",)),
                            reachable=None, vmk_mtu=1500)
    assert refused[0].id == "F02" and "MTU of 1500" in refused[0].cause
    learned = check_df_ping(subject="s", what="VXLAN underlay", source="a", target="b",
                            size=1572, ping=_ping(0, ("sendto() failed (Message too long)",)),
                            reachable=None, vmk_mtu=1600)
    assert "learned a smaller path MTU" in learned[0].cause


def test_df_ping_on_a_dead_path_is_not_an_mtu_verdict() -> None:
    assert _df(_ping(0), _ping(0), down=("F11", "dead uplink"))[0][0] == "F11"
    [(incident, message)] = _df(_ping(0), _ping(0))
    assert incident == "F02" and "is down" in message


SRV = "srv-esx03"
HEALTHY_HBAS = (_hba("vmhba0", "pvscsi"), _hba("vmhba32", "bnx2i"), _hba("vmhba33", "bnx2i"))


def test_storage_adapters_healthy_is_silent() -> None:
    view = _view([], [], HEALTHY_HBAS)
    assert check_storage_adapters(LAB, SRV, view) == []
    native = _view([], [], (_hba("vmhba32", "qfle3i"), _hba("vmhba33", "qfle3i")))
    assert check_storage_adapters(LAB, SRV, native) == []


def test_fcoe_personality_takes_the_iscsi_adapters_away() -> None:
    fcoe = (_hba("vmhba0", "pvscsi"), replace(_hba("vmhba32", "bnx2fc"), uid="fcoe.1000:2000"),
            replace(_hba("vmhba33", "bnx2fc"), uid="fcoe.1001:2001"))
    [finding] = check_storage_adapters(LAB, SRV, _view([], [], fcoe))
    assert (finding.id, finding.subject, finding.check) == ("F10", SRV, "host-storage-adapters")
    assert "0 dependent iSCSI adapter(s)" in finding.message
    assert "2 FCoE adapter(s)" in finding.message and "vmhba32, vmhba33" in finding.message
    assert finding.evidence["command"] == "esxcli storage core adapter list"
    assert "Storage Personality = iSCSI" in finding.fix


def test_adapter_port_nic_healthy_and_each_fault() -> None:
    def check(nic: HostNic | None, bmc: str | None = "7.17.33") -> list[tuple[str, str]]:
        view = _view([], [], nics={"vmnic4": nic} if nic else {})
        view = replace(view, host="esx03")
        return [(f.id, f.check) for f in check_adapter_port_nic(LAB, SRV, "flexlom", 1, view,
                                                                 bmc)]

    assert check(_nic("vmnic4")) == []
    assert check(_nic("vmnic4", driver="qfle3")) == []
    assert check(None) == [("F10", "host-nic")]
    assert check(_nic("vmnic4", driver="ixgben")) == [("F10", "host-nic")]
    assert check(_nic("vmnic4", firmware="bc 7.13.1")) == [("F10", "host-nic")]
    assert check(_nic("vmnic4", firmware="bc 7.17.330")) == [("F10", "host-nic")]
    assert check(_nic("vmnic4", link=False)) == [("F11", "host-nic-link")]
    assert check(_nic("vmnic4", speed=1000)) == [("F11", "host-nic-link")]


@pytest.mark.parametrize(("value", "ok"), [("bc 7.17.33", True), ("FFV7.17.33", True),
                                      ("7.17.33", True), ("bc 7.17.3", False),
                                      ("17.17.33", False)])
def test_firmware_match_needs_the_whole_version(value: str, ok: bool) -> None:
    view = replace(_view([], [], nics={"vmnic4": _nic("vmnic4", firmware=value)}), host="esx03")
    assert (check_adapter_port_nic(LAB, SRV, "flexlom", 1, view, "7.17.33") == []) is ok
