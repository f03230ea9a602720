"""A link is used only once the kernel has made it operational: `sim up` (before its daemons
send) and the namespace tests wait for that, and say which links never got there.

A new veth or bridge reads up, with carrier, before the kernel's link watch has attached its
transmit queue; what is sent through it until then is dropped (a relay test lost its first frame
in CI that way, right after a lab's namespaces were torn down). The state is set here the way a
supplicant sets it (RFC 2863 "dormant" through IFLA_OPERSTATE), since the kernel's own window
cannot be held open on demand.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from harness.probes import netlink
from harness.sim.dataplane import build, netns
from tests.probe.netlab import NetLab, netns_supported

RTM_SETLINK, NLM_F_REQUEST, NLM_F_ACK, NLMSG_ERROR = 19, 0x1, 0x4, 2
IFLA_OPERSTATE, IF_OPER_DORMANT, IF_OPER_UP = 16, 5, 6


@pytest.fixture
def links_ns() -> Iterator[tuple[NetLab, str]]:
    reason = netns_supported()
    if reason is not None:
        pytest.skip(f"link tests need network namespaces: {reason}")
    lab = NetLab("lh-tlk-")
    try:
        ns = lab.add("links")
        # lkempty, a bridge without ports, has carrier from the start and no link watch step
        lab.ip(ns, "link add lk0 type veth peer name lk1", "link add lkbr type bridge",
               "link add lkempty type bridge", "link set lk0 master lkbr",
               *(f"link set {i} up" for i in ("lk0", "lk1", "lkbr", "lkempty")))
        yield lab, ns
    finally:
        problems = lab.close()
        if problems:
            pytest.fail("link test teardown left things behind: " + "; ".join(problems))


def set_operstate(ns: str, ifname: str, state: int) -> None:
    """RTM_SETLINK with IFLA_OPERSTATE only, acknowledged."""
    with netns.entered(ns), socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:
        attr = struct.pack("=HHB3x", 5, IFLA_OPERSTATE, state)
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, socket.if_nametoindex(ifname),
                           0, 0) + attr
        sock.send(struct.pack("=LHHLL", 16 + len(body), RTM_SETLINK,
                              NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body)
        reply = sock.recv(4096)
        kind = struct.unpack_from("=H", reply, 4)[0]
        code = struct.unpack_from("=i", reply, 16)[0]
        assert kind == NLMSG_ERROR and code == 0, f"RTM_SETLINK answered {kind}, {code}"


def test_links_not_operational_are_waited_for_and_named(links_ns: tuple[NetLab, str]) -> None:
    lab, ns = links_ns
    lab.wait_operational(ns)  # a veth pair and a bridge with a port: all of them, soon
    assert build.activating([ns]) == []
    with netns.entered(ns):
        states = {link.name: (link.operstate, link.carrier) for link in netlink.links()}
    assert states["lkempty"] == ("unknown", True)
    assert states["lkbr"] == states["lk1"] == ("up", True)

    set_operstate(ns, "lk1", IF_OPER_DORMANT)
    assert build.activating([ns]) == [f"{ns}/lk1 (dormant)"]
    with pytest.raises(netns.NetnsError, match=rf"after 0.3 s: {ns}/lk1 \(dormant\)"):
        build.wait_operational([ns], timeout=0.3)

    # the wait ends when the link does, and says how long it took
    threading.Timer(0.4, set_operstate, (ns, "lk1", IF_OPER_UP)).start()
    started = time.monotonic()
    waited = build.wait_operational([ns], timeout=5)
    assert 0.3 <= waited <= time.monotonic() - started + 0.01
    assert build.activating([ns]) == []


def test_a_dormant_link_is_not_used_by_the_netlab_either(links_ns: tuple[NetLab, str]) -> None:
    lab, ns = links_ns
    lab.wait_operational(ns)
    set_operstate(ns, "lk1", IF_OPER_DORMANT)
    with pytest.raises(netns.NetnsError, match="lk1"):
        lab.wait_operational(ns, timeout=0.2)
    set_operstate(ns, "lk1", IF_OPER_UP)
    lab.wait_operational(ns, timeout=1)
