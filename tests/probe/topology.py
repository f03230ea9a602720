"""The small labs the probe tests run against, one builder per probe family.

All addresses are in 198.18.0.0/15 and live only in `lh-tp-*` namespaces. Faults are applied
and removed by the tests themselves (see `fault()` in conftest), so every builder leaves a
healthy lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.probe.netlab import NetLab

ALLOW_PREFIX = "198.18.0.0/15"
# interface names the agents may use; `lo` and `mgmt0` stay outside, to test refusals
ALLOW_IFACES = ("up*", "vmk*", "vmnic*", "nlb*", "vxlan*")


@dataclass(frozen=True)
class MtuLab:
    """host --1600-- r1 --1600-- r2 --1500-- dst: hop 2 (r2, 198.18.12.2) limits to 1500."""

    host: str
    r1: str
    r2: str
    dst_ns: str
    dst: str = "198.18.20.2"
    clean_dst: str = "198.18.12.2"
    gateway: str = "198.18.10.1"
    bottleneck_hop: str = "198.18.12.2"
    unused: str = "198.18.10.99"


def build_mtu(lab: NetLab) -> MtuLab:
    host, r1, r2, dst = lab.add("mh"), lab.add("r1"), lab.add("r2"), lab.add("md")
    lab.veth(host, "up0", r1, "r1-a", mtu=1600)
    lab.veth(r1, "r1-b", r2, "r2-a", mtu=1600)
    # the bottleneck on both ends: a one-sided MTU silently drops oversized frames it receives
    lab.veth(r2, "r2-b", dst, "up0", mtu=1500)
    lab.ip(host, "addr add 198.18.10.2/24 dev up0", "route add default via 198.18.10.1",
           # an interface outside the policy, to prove requests naming it are refused
           "link add mgmt0 type veth peer name mgmt0p", "link set mgmt0 up",
           "link set mgmt0p up")
    lab.ip(r1, "addr add 198.18.10.1/24 dev r1-a", "addr add 198.18.12.1/24 dev r1-b",
           "route add 198.18.20.0/24 via 198.18.12.2")
    lab.ip(r2, "addr add 198.18.12.2/24 dev r2-a", "addr add 198.18.20.1/24 dev r2-b",
           "route add 198.18.10.0/24 via 198.18.12.1")
    lab.ip(dst, "addr add 198.18.20.2/24 dev up0", "route add default via 198.18.20.1")
    for router in (r1, r2):
        lab.sysctl(router, "net.ipv4.ip_forward", "1")
        # time-exceeded is rate limited per peer (1/s after a burst of 6); repeated traces
        # in one session would otherwise lose hops
        lab.sysctl(router, "net.ipv4.icmp_ratelimit", "0")
    return MtuLab(host, r1, r2, dst)


BLACKHOLE_NFT = """
table inet lh_tp_blackhole {
    chain out {
        type filter hook output priority 0; policy accept;
        icmp type destination-unreachable drop;
    }
}
"""


@dataclass(frozen=True)
class UplinkLab:
    """esx (vSwitch0: vmnic0 active, vmnic1 standby-blocked) cabled to a switch running lldpd,
    whose third port leads to a gateway."""

    esx: str
    switch: str
    gw: str
    gateway: str = "198.18.30.1"
    switch_addr: str = "198.18.31.2"
    hostname: str = "lab-sw01.example.test"
    platform: str = "cisco WS-C3850-48P"
    software: str = "Cisco IOS Software, Simulated"


def build_uplinks(lab: NetLab) -> UplinkLab:
    esx, sw, gw = lab.add("esx"), lab.add("sw"), lab.add("gw")
    lab.veth(esx, "vmnic0", sw, "Gi1-0-1")
    lab.veth(esx, "vmnic1", sw, "Gi1-0-2")
    lab.veth(gw, "up0", sw, "Gi1-0-3")
    lab.ip(sw, "link add swbr type bridge", "link set swbr up",
           "addr add 198.18.31.2/24 dev swbr",
           *(f"link set Gi1-0-{n} master swbr" for n in (1, 2, 3)),
           *(f"link set Gi1-0-{n} alias GigabitEthernet1/0/{n}" for n in (1, 2, 3)))
    lab.ip(esx, "link add vSwitch0 type bridge", "link set vSwitch0 up",
           "link set vmnic0 master vSwitch0", "link set vmnic1 master vSwitch0")
    # the standby uplink is blocked before MAC learning (bridge prerouting), as ESXi's
    # teaming does; the beacon must still get through it
    lab.nft(esx, """
table bridge lh_tp_team {
    chain pre { type filter hook prerouting priority 0; policy accept; iifname "vmnic1" drop; }
    chain standby_out { type filter hook forward priority 0; policy accept; oifname "vmnic1" drop; }
}
""")
    lab.ip(gw, "addr add 198.18.30.1/24 dev up0")
    return UplinkLab(esx, sw, gw)


def lldpd_config(path: Path, uplinks: UplinkLab) -> Path:
    path.write_text(
        f"configure system hostname {uplinks.hostname}\n"
        f'configure system platform "{uplinks.platform}"\n'
        f'configure system description "{uplinks.software}"\n'
        "configure lldp tx-interval 1\n", encoding="utf-8")
    return path


def silent_port_nft(port: str, *, ingress: bool) -> str:
    """Drop everything a switch port sends (and receives), with the link staying up."""
    chains = [f'chain eg {{ type filter hook egress device "{port}" priority 0; policy drop; }}']
    if ingress:
        chains.append(f'chain ing {{ type filter hook ingress device "{port}" priority 0; '
                      "policy drop; }")
    return "table netdev lh_tp_silent {\n    " + "\n    ".join(chains) + "\n}\n"


@dataclass(frozen=True)
class FloodLab:
    """Switch br-nlb with a client and two NLB nodes; the cluster MAC is unknown to it."""

    switch: str
    client: str
    node1: str
    node2: str
    cluster_mac: str = "02:bf:c6:12:00:0a"


def build_flood(lab: NetLab) -> FloodLab:
    sw, client, n1, n2 = lab.add("fsw"), lab.add("fc"), lab.add("fn1"), lab.add("fn2")
    lab.ip(sw, "link add br-nlb type bridge", "link set br-nlb up")
    lab.veth(client, "nlbc0", sw, "cp")
    lab.veth(n1, "nlb0", sw, "n1p")
    lab.veth(n2, "nlb0", sw, "n2p")
    lab.ip(sw, "link set cp master br-nlb", "link set n1p master br-nlb",
           "link set n2p master br-nlb")
    return FloodLab(sw, client, n1, n2)


@dataclass(frozen=True)
class VmkLab:
    """Two hosts, vmk0 on VLAN 10 (br-v10) and vmk1 on VLAN 20 (br-v20), both vmks in
    198.18.4.0/24 (the F12 mistake); vmk1 also has 198.18.5.x/24 (the fix)."""

    switch: str
    host_a: str
    host_b: str
    b_vmk0: str = "198.18.4.12"
    b_vmk1_same_subnet: str = "198.18.4.22"
    b_vmk1_own_subnet: str = "198.18.5.22"


def build_vmk(lab: NetLab) -> VmkLab:
    sw, a, b = lab.add("vsw"), lab.add("va"), lab.add("vb")
    lab.ip(sw, "link add br-v10 type bridge", "link set br-v10 up",
           "link add br-v20 type bridge", "link set br-v20 up")
    for host, tag in ((a, "a"), (b, "b")):
        lab.veth(host, "vmk0", sw, f"{tag}0p")
        lab.veth(host, "vmk1", sw, f"{tag}1p")
        lab.ip(sw, f"link set {tag}0p master br-v10", f"link set {tag}1p master br-v20")
        # ESXi-like strict ARP: answer only for addresses of the receiving interface
        lab.sysctl(host, "net.ipv4.conf.all.arp_ignore", "1")
        lab.sysctl(host, "net.ipv4.conf.all.arp_announce", "2")
    # metrics make "first route wins" deterministic across link flaps
    lab.ip(a, "addr add 198.18.4.11/24 dev vmk0 metric 100",
           "addr add 198.18.4.21/24 dev vmk1 metric 101", "addr add 198.18.5.21/24 dev vmk1")
    lab.ip(b, "addr add 198.18.4.12/24 dev vmk0 metric 100",
           "addr add 198.18.4.22/24 dev vmk1 metric 101", "addr add 198.18.5.22/24 dev vmk1")
    return VmkLab(sw, a, b)


@dataclass(frozen=True)
class VxlanLab:
    """VTEP A (198.18.60.1) and VTEP B (198.18.60.2, also .3) over one underlay; VNI 5001 with
    head-end replication lists; overlay 198.18.61.0/24 on the vxlan devices."""

    vtep_a: str
    vtep_b: str
    overlay_dst: str = "198.18.61.2"
    duplicate_entry: str = "198.18.60.3"


def build_vxlan(lab: NetLab) -> VxlanLab:
    a, b = lab.add("xa"), lab.add("xb")
    lab.veth(a, "up0", b, "up0")
    lab.ip(a, "addr add 198.18.60.1/24 dev up0",
           "link add vxlan5001 type vxlan id 5001 local 198.18.60.1 dstport 4789 nolearning "
           "df set", "addr add 198.18.61.1/24 dev vxlan5001", "link set vxlan5001 up")
    lab.ip(b, "addr add 198.18.60.2/24 dev up0", "addr add 198.18.60.3/24 dev up0",
           "link add vxlan5001 type vxlan id 5001 local 198.18.60.2 dstport 4789 nolearning "
           "df set", "addr add 198.18.61.2/24 dev vxlan5001", "link set vxlan5001 up")
    lab.exec(a, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan5001", "dst",
             "198.18.60.2")
    lab.exec(b, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan5001", "dst",
             "198.18.60.1")
    return VxlanLab(a, b)


@dataclass(frozen=True)
class SshLab:
    """A probe host running sshd (198.18.70.2) and a client namespace (198.18.70.1)."""

    server: str
    client: str
    server_addr: str = "198.18.70.2"
    client_addr: str = "198.18.70.1"


def build_ssh(lab: NetLab) -> SshLab:
    server, client = lab.add("ssh"), lab.add("sshc")
    lab.veth(server, "up0", client, "up0")
    lab.ip(server, "addr add 198.18.70.2/24 dev up0")
    lab.ip(client, "addr add 198.18.70.1/24 dev up0")
    return SshLab(server, client)


@dataclass(frozen=True)
class Lab:
    """Every sub-lab of the session, and the namespaces that get an agent."""

    netlab: NetLab
    mtu: MtuLab
    uplinks: UplinkLab
    flood: FloodLab
    vmk: VmkLab
    vxlan: VxlanLab

    @property
    def agent_namespaces(self) -> list[str]:
        return [self.mtu.host, self.uplinks.esx, self.flood.client, self.flood.node1,
                self.flood.node2, self.vmk.host_a, self.vxlan.vtep_a]
