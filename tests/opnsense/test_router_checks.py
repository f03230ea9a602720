"""The router checks, both ways, on what the OPNsense API reports of a real namespace: silent
on the healthy router; on each fault the field has (an underlay MTU left at 1500, a link down,
forwarding off, a route gone, a gateway that stopped answering, a NAT rule gone) exactly the
finding, citing the API read it came from."""

from __future__ import annotations

import time
from pathlib import Path

from harness.checks.router import (
    check_forwarding,
    check_interfaces,
    check_routes,
    gateways_down,
    missing_nat,
)
from harness.drivers.opnsense import OpnsenseClient, read_router
from tests.opnsense.conftest import ROUTER, Api, RouterLab, start_api


def test_healthy_router_passes_every_check(api: Api, router_lab: RouterLab) -> None:
    facts = api.read()
    lab = router_lab.lab
    assert check_interfaces(lab, facts) == []
    assert check_forwarding(facts) == [] and facts.forwarding is True
    assert check_routes(lab, facts) == []
    assert gateways_down(lab, facts) == []
    assert missing_nat(lab, facts) == []


def test_underlay_mtu_1500_is_f02(api: Api, router_lab: RouterLab) -> None:
    with router_lab.broken(["link set underlay_b mtu 1500"], ["link set underlay_b mtu 1600"]):
        facts = api.read()
    (finding,) = check_interfaces(router_lab.lab, facts)
    assert (finding.id, finding.subject) == ("F02", f"{ROUTER}/underlay_b")
    assert finding.message == "underlay_b (underlay_b) has MTU 1500, the lab says 1600"
    assert "VXLAN underlay vtep-b, which needs at least 1600" in finding.cause
    assert finding.evidence["read"] == f"GET {api.proc.url}/api/interfaces/overview/interfacesInfo"
    assert (finding.evidence["mtu"], finding.evidence["expected"]) == (1500, 1600)


def test_link_states(api: Api, router_lab: RouterLab) -> None:
    """Administratively down is `down`; up without a carrier (the far end down) is
    `no carrier`, as OPNsense shows ifconfig's status."""
    with router_lab.broken(["link set underlay_a down"], ["link set underlay_a up"]):
        facts = api.read()
    messages = [f.message for f in check_interfaces(router_lab.lab, facts)]
    assert "underlay_a (underlay_a) is down" in messages
    # the connected route went with the link: no route between the underlays on that side
    (route,) = check_routes(router_lab.lab, facts)
    assert route.message.startswith(f"{ROUTER} has no route to underlay vtep-a")
    far_end = router_lab.peer_of("underlay_a")
    router_lab.netlab.ip(router_lab.peer, f"link set {far_end} down")
    try:
        facts = api.read()
    finally:
        router_lab.netlab.ip(router_lab.peer, f"link set {far_end} up")
    assert "underlay_a (underlay_a) is no carrier" in [
        f.message for f in check_interfaces(router_lab.lab, facts)]


def test_address_and_missing_interface(api: Api, router_lab: RouterLab) -> None:
    with router_lab.broken(["addr del 198.18.40.1/24 dev servers",
                            "addr add 198.18.40.9/24 dev servers"],
                           ["addr del 198.18.40.9/24 dev servers",
                            "addr add 198.18.40.1/24 dev servers"]):
        facts = api.read()
    (finding,) = check_interfaces(router_lab.lab, facts)
    assert finding.message == "servers (servers) lacks 198.18.40.1/24"
    assert finding.evidence["addresses"] == ["198.18.40.9/24"]


def test_forwarding_off(api: Api, router_lab: RouterLab) -> None:
    router_lab.netlab.sysctl(router_lab.fw, "net.ipv4.ip_forward", "0")
    try:
        facts = api.read()
    finally:
        router_lab.netlab.sysctl(router_lab.fw, "net.ipv4.ip_forward", "1")
    (finding,) = check_forwarding(facts)
    assert finding.evidence["read"] == f"GET {api.proc.url}/api/core/tunables/searchItem"


def test_static_route_gone(api: Api, router_lab: RouterLab) -> None:
    with router_lab.broken(["route del 198.18.200.0/22"],
                           ["route add 198.18.200.0/22 via 198.18.100.2"]):
        facts = api.read()
    (finding,) = check_routes(router_lab.lab, facts)
    assert finding.message == f"{ROUTER} has no route to 198.18.200.0/22 via 198.18.100.2"


def test_nat_rule_gone(api: Api, router_lab: RouterLab) -> None:
    router_lab.netlab.nft(router_lab.fw, "flush table ip lh_nat\n")
    try:
        facts = api.read()
    finally:
        router_lab.netlab.nft(router_lab.fw, 'add rule ip lh_nat postrouting ip saddr '
                              '198.18.200.0/22 oifname "wan" masquerade\n')
    assert [str(n.source) for n in missing_nat(router_lab.lab, facts)] == ["198.18.200.0/22"]
    assert missing_nat(router_lab.lab, api.read()) == []


def test_gateway_that_stops_answering_goes_offline(api: Api, router_lab: RouterLab,
                                                   tmp_path: Path) -> None:
    """A fresh router whose gateway does not answer: dpinger's loss passes 20 %, the status
    page says Offline, and the check names the gateway and the API read."""
    wan = router_lab.peer_of("wan")
    with_gateway = f"addr del 198.18.100.2/24 dev {wan}", f"addr add 198.18.100.2/24 dev {wan}"
    router_lab.netlab.ip(router_lab.peer, with_gateway[0])
    proc = start_api(api.spec, tmp_path / "gw")
    try:
        client = OpnsenseClient(ROUTER, proc.url, api.spec.key, api.spec.secret,
                                verify=str(proc.cert_file))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            facts = read_router(client)
            if facts.gateways and facts.gateways[0].loss not in ("~", "0.0 %"):
                break
            time.sleep(0.5)
        (problem,) = gateways_down(router_lab.lab, facts)
        assert problem.startswith("gateway WAN_GW (198.18.100.2) is Offline (loss 100.0 %")
        assert f"GET {proc.url}/api/routes/gateway/status" in problem
    finally:
        proc.stop()
        router_lab.netlab.ip(router_lab.peer, with_gateway[1])
