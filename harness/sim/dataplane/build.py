"""Realise a DataplanePlan with batched `ip`, `bridge` and `nft` commands, and tear it down.

One `ip -batch` in the root namespace creates every namespace and veth pair (each end directly
in its namespace, so no lab interface name ever appears in the root namespace); one
`ip -n NS -batch` per namespace does bridges, addresses and routes; sysctls are written through
setns without a subprocess.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Iterable

from harness.probes import netlink
from harness.sim.dataplane import netns
from harness.sim.dataplane.plan import BEACON_ETHERTYPE, VXLAN_PORT, DataplanePlan, VethEnd
from harness.sim.dataplane.teaming import NFT_TABLE


def _end(end: VethEnd) -> str:
    parts = [f"name {end.ifname}"]
    if end.ns:
        parts.append(f"netns {end.ns}")
    if end.mac:
        parts.append(f"address {end.mac}")
    parts.append(f"mtu {end.mtu}")
    return " ".join(parts)


def _batch(lines: Iterable[str], ns: str = "", tool: str = "ip") -> None:
    script = "\n".join(lines) + "\n"
    if not script.strip():
        return
    argv = [tool, "-batch", "-"] if not ns else [tool, "-n", ns, "-batch", "-"]
    netns.run(argv, stdin=script)


def team_ruleset(plan: DataplanePlan, ns: str) -> list[str]:
    """The host's teaming table: non-forwarding uplinks blocked before MAC learning."""
    teams = plan.teams.get(ns, [])
    links = [u.link for t in teams for u in t.uplinks]
    blocked = [u.link for t in teams for u in t.uplinks[1:]]  # the controller takes over
    def elements(items: list[str]) -> str:
        return f" elements = {{ {', '.join(repr(i).replace(chr(39), chr(34)) for i in items)} }};" \
            if items else ""
    return [
        f"table bridge {NFT_TABLE} {{",
        f"  set blocked {{ type ifname;{elements(blocked)} }}",
        f"  set uplinks {{ type ifname;{elements(links)} }}",
        "  chain pre { type filter hook prerouting priority -300; policy accept;",
        f"    ether type {BEACON_ETHERTYPE:#06x} drop",
        "    iifname @blocked drop",
        "  }",
        "  chain forward_f { type filter hook forward priority 0; policy accept;",
        "    oifname @blocked drop",
        # a vSwitch never forwards between its uplinks: no loops through the physical network
        "    iifname @uplinks oifname @uplinks drop",
        "  }",
        "  chain out { type filter hook output priority 0; policy accept;",
        "    oifname @blocked drop",
        "  }",
        "}",
    ]


def build(plan: DataplanePlan) -> None:
    """Create namespaces, links, bridges, addresses, routes and nftables rules.

    Raises:
        NetnsError: a command failed (the caller tears down what was made).
    """
    _batch(f"netns add {n}" for n in plan.namespace_names())
    for n in plan.namespaces:
        netns.write_sysctls(n.name, n.sysctls)
    _batch(f"link add {_end(link.a)} type veth peer {_end(link.b)}" for link in plan.links)
    # our one root-namespace interface stays IPv4-only: no IPv6 link-local chatter
    netns.write_sysctls("", [(f"net.ipv6.conf.{i}.disable_ipv6", "1") for i in plan.root_ifaces])

    per_ns: dict[str, list[str]] = defaultdict(list)
    for b in plan.bridges:
        per_ns[b.ns].append(f"link add name {b.name} mtu {b.mtu} type bridge")
    for v in plan.vxlans:
        per_ns[v.ns].append(f"link add name {v.name} mtu {v.mtu} type vxlan id {v.vni} local "
                            f"{v.local} dstport {VXLAN_PORT} nolearning df set ttl 64")
    for link in plan.links:
        for end in (link.a, link.b):
            if end.alias:
                per_ns[end.ns].append(f'link set dev {end.ifname} alias "{end.alias}"')
    for b in plan.bridges:
        for m in b.members:
            per_ns[b.ns].append(f"link set dev {m} master {b.name}")
    for v in plan.vxlans:
        per_ns[v.ns].append(f"link set dev {v.name} master {v.bridge}")
    up: dict[str, list[str]] = defaultdict(list)
    for ns_name in plan.namespace_names():
        up[ns_name].append("lo")
    for link in plan.links:
        for end in (link.a, link.b):
            up[end.ns].append(end.ifname)
    for b in plan.bridges:
        up[b.ns].append(b.name)
    for v in plan.vxlans:
        up[v.ns].append(v.name)
    # nftables first, so blocked uplinks are blocked before any link comes up
    for ns in {*plan.teams, *plan.nft}:
        rules = team_ruleset(plan, ns) + plan.nft.get(ns, [])
        if rules:
            netns.run(["nft", "-f", "-"], ns=ns, stdin="\n".join(rules) + "\n")
    for ns, ifaces in up.items():
        per_ns[ns].extend(f"link set dev {i} up" for i in ifaces)
    for a in plan.addresses:
        extra = (f" metric {a.metric}" if a.metric is not None else "") + (
            "" if a.prefix_route else " noprefixroute")
        per_ns[a.ns].append(f"addr add {a.ip} dev {a.ifname}{extra}")
    for r in plan.rules:
        per_ns[r.ns].append(f"rule add from {r.src} lookup {r.table}")
    for rt in plan.routes:
        line = f"route add {rt.dst}"
        line += f" via {rt.via}" if rt.via is not None else ""
        line += f" dev {rt.dev}" if rt.dev else ""
        line += f" table {rt.table}" if rt.table is not None else ""
        line += f" metric {rt.metric}" if rt.metric is not None else ""
        per_ns[rt.ns].append(line)
    root = per_ns.pop("", [])
    _batch(root)
    for ns, lines in per_ns.items():
        _batch(lines, ns)
    fdb: dict[str, list[str]] = defaultdict(list)
    for v in plan.vxlans:
        for remote in v.remotes:
            # head-end replication: one all-zeros entry per remote VTEP, as NSX unicast mode
            fdb[v.ns].append(f"fdb append 00:00:00:00:00:00 dev {v.name} dst {remote}")
    for ns, lines in fdb.items():
        _batch(lines, ns, tool="bridge")


def activating(namespaces: Iterable[str], root_ifaces: Iterable[str] = (),
               only: Collection[str] | None = None) -> list[str]:
    """`NS/IFNAME (STATE)` of each link (of those named in `only`, if given) that has carrier
    but is not operational yet (see `netlink.Link.activating`): frames sent through it are
    still dropped."""
    found = []
    for ns in namespaces:
        with netns.entered(ns):
            found += [f"{ns}/{link.name} ({link.operstate})" for link in netlink.links()
                      if link.activating and (only is None or link.name in only)]
    wanted = set(root_ifaces)
    if wanted:
        found += [f"{link.name} ({link.operstate})" for link in netlink.links()
                  if link.name in wanted and link.activating]
    return found


def wait_operational(namespaces: Iterable[str], root_ifaces: Iterable[str] = (),
                     timeout: float = 10.0, only: Collection[str] | None = None) -> float:
    """Wait until every veth and bridge in `namespaces` (only those named in `only`, if given)
    and `root_ifaces` of the root namespace is operational; returns the seconds waited.

    Right after `build` a link can read up, with carrier, and still lose what is sent through
    it until the kernel's link watch has run: a veth opened before its peer transmits only from
    then on, and a bridge port forwards only once its link is operationally up. The step is
    quick for some links and up to a second late for others (the kernel batches events it does
    not think urgent), later still while it is tearing down another lab's namespaces; the
    operational state changes last, so waiting for it may wait a little longer than needed.
    A daemon that sends at start (beacons, LLDP) or a probe sent earlier would lose frames.

    Raises:
        NetnsError: links still not operational after `timeout` seconds (named).
    """
    started = time.monotonic()
    namespaces, root_ifaces = list(namespaces), list(root_ifaces)
    while True:
        pending = activating(namespaces, root_ifaces, only)
        if not pending:
            return round(time.monotonic() - started, 3)
        if time.monotonic() - started > timeout:
            shown = ", ".join(pending[:8]) + (f" and {len(pending) - 8} more"
                                               if len(pending) > 8 else "")
            raise netns.NetnsError(f"links not operational after {timeout:g} s: {shown}")
        # only the namespaces still waiting are asked again
        namespaces = list(dict.fromkeys(p.split("/", 1)[0] for p in pending if "/" in p))
        time.sleep(0.02)


def teardown(namespaces: Iterable[str], root_ifaces: Iterable[str] = ()) -> list[str]:
    """Delete namespaces and root-namespace interfaces by exact name; returns what was removed.

    Daemons must already be stopped: a process left in a namespace keeps it alive.
    """
    existing = set(netns.list_netns())
    doomed = [n for n in namespaces if n in existing]
    _batch(f"netns del {n}" for n in doomed)
    for ifname in root_ifaces:
        netns.run(["ip", "link", "del", ifname], check=False)
    return doomed
