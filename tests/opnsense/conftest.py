"""Fixtures: the sim lab's OPNsense router built in `lh-to-*` namespaces (its five lab
interfaces and a management NIC, every neighbour in one peer namespace), and the OPNsense
emulator serving that router's API on 127.0.0.1 while reading the namespace's kernel state.

The router namespace is what the sim builds for opnsense01 (addresses, MTUs, the route to
the overlays, the masquerade rule, forwarding on); tests break it the way the field does and
put it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.drivers.opnsense import OpnsenseClient, read_router
from harness.facts.router import RouterFacts
from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.sim.opnsense import OpnsenseProcess, RouterSpec, new_api_key, router_spec
from harness.sim.opnsense.spec import MGMT_DEVICE
from tests.conftest import SIM_LAB
from tests.probe.netlab import NetLab, fixture_netlab

ROUTER = "opnsense01"
MGMT_IP = "198.19.255.2"


@dataclass
class RouterLab:
    """The router's namespaces and the addresses its neighbours answer on."""

    netlab: NetLab
    lab: Lab
    fw: str
    peer: str

    def ip(self, *commands: str) -> None:
        self.netlab.ip(self.fw, *commands)

    def peer_of(self, interface: str) -> str:
        """The neighbour's end of a router interface's link, in the peer namespace."""
        return f"p{list(self.lab.routers[ROUTER].interfaces).index(interface)}"

    @contextmanager
    def broken(self, do: list[str], undo: list[str]) -> Iterator[None]:
        """`ip` commands in the router namespace for the block, undone afterwards."""
        self.ip(*do)
        try:
            yield
        finally:
            self.ip(*undo)


@pytest.fixture(scope="session")
def router_lab() -> Iterator[RouterLab]:
    lab = load_lab(SIM_LAB)
    router = lab.routers[ROUTER]
    with fixture_netlab("lh-to-", "the OPNsense emulator tests") as netlab:
        fw, peer = netlab.add("fw"), netlab.add("peer")
        netlab.sysctl(fw, "net.ipv4.ip_forward", "1")
        for n, (iname, iface) in enumerate(router.interfaces.items()):
            netlab.veth(fw, iname, peer, f"p{n}", mtu=iface.mtu)
            netlab.ip(fw, f"addr add {iface.ip} dev {iname}")
            # the neighbour: the lab's gateway on that network where it has one (the ESG's
            # uplink for the route to the overlays), else the next address
            gateways = [r.gateway for r in router.routes if r.gateway in iface.ip.network]
            address = gateways[0] if gateways else iface.ip.ip + 1
            netlab.ip(peer, f"addr add {address}/{iface.ip.network.prefixlen} dev p{n}")
        netlab.veth(fw, MGMT_DEVICE, peer, "pm")
        netlab.ip(fw, f"addr add {MGMT_IP}/24 dev {MGMT_DEVICE}")
        for route in router.routes:
            netlab.ip(fw, f"route add {route.destination} via {route.gateway}")
        rules = [f'    ip saddr {n.source} oifname "{n.out_interface}" masquerade'
                 for n in router.nat]
        netlab.nft(fw, "table ip lh_nat {\n  chain postrouting { type nat hook postrouting "
                   "priority 100; policy accept;\n" + "\n".join(rules) + "\n  }\n}\n")
        yield RouterLab(netlab, lab, fw, peer)


@dataclass
class Api:
    """A running emulator and a client of it."""

    proc: OpnsenseProcess
    spec: RouterSpec

    def client(self, *, key: str | None = None, secret: str | None = None,
               verify: bool | str | None = None) -> OpnsenseClient:
        return OpnsenseClient(ROUTER, self.proc.url, key or self.spec.key,
                              secret or self.spec.secret,
                              verify=str(self.proc.cert_file) if verify is None else verify)

    def read(self) -> RouterFacts:
        client = self.client()
        try:
            return read_router(client)
        finally:
            client.close()


def start_api(spec: RouterSpec, workdir: Path, **changes: str) -> OpnsenseProcess:
    """Serve `spec` as changed (another `version`, another `key`) from `workdir`."""
    return OpnsenseProcess.start(dataclasses.replace(spec, **changes), workdir)


@pytest.fixture(scope="session")
def api(router_lab: RouterLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    workdir = tmp_path_factory.mktemp("opnsense")
    key, secret = new_api_key()
    spec = router_spec(router_lab.lab, ROUTER, "127.0.0.1", 0, key, secret, netns=router_lab.fw)
    proc = OpnsenseProcess.start(spec, workdir)  # ready once its gateway has a status
    try:
        yield Api(proc, spec)
    finally:
        proc.stop()
        assert not proc.running
