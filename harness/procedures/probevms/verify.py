"""`probes verify`: do the probe VMs work, and if not, what exactly is missing per host.

For each ESXi host of the lab the probe VM must be reachable over SSH (host key verified),
have the inventory's Python with scapy, have the NICs the inventory names (when vCenter knows
the probe VM, each one is also matched by MAC to the port group it is on, which is how guest
names like ens224 are found), and pass tagged frames both ways on every VLAN the lab uses on
each virtual switch: from the trunk NIC, an ARP request tagged with the VLAN, as the probe's
address on that VLAN's network, for an address there (the host's own vmknic on that switch,
else the gateway, another host's vmknic or a router interface) must be answered, tagged with
the same VLAN, on the same NIC. The agents and the frames are the suites' own
(`ProbeSites`, `harness.probes.trunk`); nothing here sends a packet itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.drivers.probe.client import AgentClient
from harness.drivers.probe.errors import ProbeError
from harness.drivers.probe.sites import ProbeSites, from_inventory
from harness.drivers.vsphere.probevms import VcenterObjects
from harness.lab.inventory import ProbeSite
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.procedures.probevms.journal import Journal
from harness.procedures.probevms.plan import (
    ProbeNic,
    probe_nics,
    probe_vm_of,
    switch_vlans,
    vm_name,
)

Status = Literal["ok", "missing", "skipped"]
RETRY_S = 5.0


@dataclass(frozen=True)
class Check:
    """One thing verified on a probe VM: `missing` says what is wrong and what to do."""

    what: str
    status: Status
    detail: str


@dataclass
class HostVerdict:
    """Everything verified for one host's probe VM, and the guest NIC names found by MAC."""

    host: str
    checks: list[Check] = field(default_factory=list)
    trunks: dict[str, str] = field(default_factory=dict)  # switch -> guest NIC, by MAC
    uplinks: dict[str, str] = field(default_factory=dict)  # vmnic -> guest NIC, by MAC

    @property
    def ok(self) -> bool:
        return all(c.status != "missing" for c in self.checks)

    @property
    def missing(self) -> list[Check]:
        return [c for c in self.checks if c.status == "missing"]

    def add(self, what: str, status: Status, detail: str) -> None:
        self.checks.append(Check(what, status, detail))


def probe_macs(lab: Lab, found: VcenterObjects, journal: Journal | None,
               host: str) -> dict[str, str]:
    """Port group -> MAC of the host's probe VM NICs, as vCenter reports them: the VM the
    journal names for the host, else `lh-probe-<host>`; {} when vCenter has neither."""
    recorded = probe_vm_of(journal, host)
    vm = None
    if recorded is not None and recorded[1] is not None:
        vm = found.vm_by_moref(recorded[1])
    if vm is None:
        named = found.vms_named(recorded[0] if recorded else vm_name(host))
        vm = named[0] if len(named) == 1 else None
    if vm is None:
        return {}
    wanted = {n.network for n in probe_nics(lab, host)}
    return {n.network: n.mac for n in vm.nics if n.network in wanted and n.mac}


# ---------------------------------------------------------------------------------------------
# why an agent did not start


def diagnose(host: str, site: ProbeSite, message: str) -> list[Check]:
    """SSH / python / scapy checks from the reason a probe agent did not start."""
    who = f"{site.ssh.username}@{site.ssh.host}:{site.ssh.port}"
    python = site.python
    text = message.lower()
    ssh_fail = None
    if "authentication failed" in text:
        ssh_fail = (f"{who} refused the login: check probes.{host}.ssh key_file/password and "
                    "the user's authorized_keys on the probe VM")
    elif "host key" in text or "known_hosts" in text:
        ssh_fail = (f"{who}: the host key is not the one known_hosts has ({message.strip()}); "
                    "add the probe VM's key to known_hosts (ssh-keyscan, checked) or fix the "
                    "address")
    elif "ssh connection failed" in text or "ssh transport closed" in text:
        ssh_fail = (f"cannot reach {who}: {message.strip()} (is the VM powered on, its "
                    "management NIC connected and sshd running?)")
    if ssh_fail is not None:
        return [Check("SSH", "missing", ssh_fail),
                Check("python3", "skipped", "not checked: no SSH"),
                Check("scapy", "skipped", "not checked: no SSH")]
    checks = [Check("SSH", "ok", who)]
    if "password is required" in text or "terminal is required" in text or (
            "sudo:" in text and "not found" not in text):
        return [*checks, Check("python3", "missing", f"{site.ssh.username} cannot run the probe "
                               f"agent as root: allow passwordless `sudo -n {python}` "
                               "(NOPASSWD in sudoers) or log in as root; the agent needs raw "
                               "sockets"), Check("scapy", "skipped", "not checked")]
    if "no module named 'scapy'" in text or 'no module named "scapy"' in text:
        return [*checks, Check("python3", "ok", python),
                Check("scapy", "missing", f"{python} has no scapy: install python3-scapy "
                      f"(Debian/Ubuntu) or `{python} -m pip install scapy` on the probe VM")]
    if ("not found" in text or "no such file" in text) and "python" in text:
        return [*checks, Check("python3", "missing", f"{python} is not on the probe VM: install "
                               f"python3 or set probes.{host}.python"),
                Check("scapy", "skipped", "not checked: no Python")]
    return [*checks, Check("probe agent", "missing", f"did not start: {message.strip()}")]


# ---------------------------------------------------------------------------------------------
# NICs and VLANs


def _arp_target(lab: Lab, host: str, switch: str, network: str) -> tuple[str, str] | None:
    """What to ARP for on a lab network from `host`'s trunk on `switch`, and what it is: the
    host's own vmknic on that switch (proves the trunk without the physical network), else
    the gateway, the host's vmknic elsewhere, another host's vmknic, a router interface."""
    net = lab.networks[network]
    pgs = host_port_groups(lab, host)

    def vmks(h: str) -> list[tuple[str, str, str]]:
        return [(str(v.ip.ip), v.port_group, name)
                for name, v in lab.hosts[h].vmknics.items() if v.ip.ip in net.subnet]

    own = vmks(host)
    same = [(ip, f"{host} {name}") for ip, pg, name in own
            if pg in pgs and pgs[pg].switch == switch]
    others = [(ip, f"{h} {name}") for h in lab.hosts if h != host for ip, _pg, name in vmks(h)]
    routers = [(str(i.ip.ip), f"router {r} {iname}") for r, router in lab.routers.items()
               for iname, i in router.interfaces.items() if i.network == network]
    gateway = [(str(net.gateway), "gateway")] if net.gateway else []
    for candidates in (same, gateway, [(ip, f"{host} {name}") for ip, _pg, name in own],
                       others, routers):
        if candidates:
            return candidates[0]
    return None


def check_nic(v: HostVerdict, site: ProbeSite, nic: ProbeNic, by_name: Mapping[str, bool],
               by_mac: Mapping[str, str], macs: Mapping[str, str]) -> str | None:
    """Check the inventory's NIC for one probe port group; the guest NIC name when usable."""
    key = nic.switch if nic.kind == "trunk" else str(nic.vmnic)
    field_ = f"probes.{v.host}.{'trunks' if nic.kind == 'trunk' else 'uplinks'}.{key}"
    configured = site.trunks.get(key) if nic.kind == "trunk" else site.uplinks.get(key)
    mac = macs.get(nic.network)
    guest = by_mac.get(mac) if mac else None
    if guest is not None:
        (v.trunks if nic.kind == "trunk" else v.uplinks)[key] = guest
    hint = f"; the NIC on {nic.network} ({mac}) is {guest}" if guest else ""
    what = f"{nic.purpose} NIC"
    if mac and guest is None:
        v.add(what, "missing", f"vCenter's probe VM has MAC {mac} on {nic.network} but no "
              f"interface of the machine at probes.{v.host}.ssh has it: that is another "
              "machine, or the NIC is not connected in the guest")
        return None
    if configured is None:
        v.add(what, "missing", f"{field_} is not set{hint}")
        return None
    if configured not in by_name:
        v.add(what, "missing", f"{configured} ({field_}) not found on the probe VM; it has "
              f"{', '.join(sorted(by_name)) or 'no interfaces'}{hint}")
        return None
    if guest is not None and guest != configured:
        v.add(what, "missing", f"{configured} ({field_}) is not the NIC on {nic.network}"
              f"{hint}")
        return None
    if not by_name[configured]:
        v.add(what, "missing", f"{configured} is down on the probe VM: bring it up (ip link set "
              f"{configured} up, and at boot); the agent sends and captures on it")
        return None
    v.add(what, "ok", f"{configured}" + (f" ({mac}, on {nic.network})" if mac else ""))
    return configured


def _vlan_checks(v: HostVerdict, lab: Lab, site: ProbeSite, agent: AgentClient, switch: str,
                 iface: str) -> None:
    for vlan in switch_vlans(lab, v.host).get(switch, []):
        what = f"VLAN {vlan} on {switch}"
        network = next((n for n, net in lab.networks.items() if net.vlan == vlan), None)
        if network is None:
            v.add(what, "skipped", f"not verified: lab {lab.name} has no network on VLAN {vlan}")
            continue
        address = site.addresses.get(network)
        if address is None:
            v.add(what, "missing", f"no address for network {network}: add probes.{v.host}."
                  f"addresses.{network} (a free ADDRESS/PREFIX in {lab.networks[network].subnet})")
            continue
        target = _arp_target(lab, v.host, switch, network)
        if target is None:
            v.add(what, "skipped", f"not verified: nothing on network {network} to answer ARP "
                  "(no vmknic, gateway or router address in the lab)")
            continue
        ip, label = target
        tag = None if vlan == 0 else vlan
        try:
            echo = agent.trunk_echo(iface, tag, str(address), ip, count=0, window=0.0,
                                    timeout=0.3)
        except ProbeError as exc:
            v.add(what, "missing", f"probe failed: {exc.message}")
            continue
        if echo.arp_answered:
            v.add(what, "ok", f"ARP from {address.ip} for {ip} ({label}) answered by "
                  f"{echo.next_hop_mac}, tagged {vlan} both ways on {iface}")
            continue
        elsewhere = sorted({f"VLAN {s.vlan} on {s.iface}" for s in echo.seen
                            if (s.iface, s.vlan) != (iface, tag)})
        v.add(what, "missing", f"VLAN {vlan} ({network}) not passing: no ARP answer from {ip} "
              f"({label}) tagged {vlan} on {iface}"
              + (f"; frames about {address.ip} seen on {', '.join(elsewhere)}" if elsewhere
                 else "") + ": check the trunk port group (VLAN 4095 or trunk range) and the "
              "VLAN on the host and upstream")


def _verify_host(lab: Lab, host: str, site: ProbeSite, sites: ProbeSites,
                 macs: Mapping[str, str]) -> HostVerdict:
    v = HostVerdict(host)
    if host in sites.failed:
        v.checks += diagnose(host, site, sites.failed[host])
        return v
    agent = sites.agents[host]
    try:
        info = agent.ping()
        interfaces = agent.interfaces()
    except ProbeError as exc:
        v.add("probe agent", "missing", f"stopped answering: {exc.message}")
        return v
    v.add("SSH", "ok", f"{site.ssh.username}@{site.ssh.host}:{site.ssh.port}")
    v.add("python3", "ok", site.python)
    v.add("scapy", "ok", f"scapy {info.scapy_version}")
    by_name = {i.name: i.up for i in interfaces}
    by_mac = {i.mac.lower(): i.name for i in interfaces if i.mac}
    for nic in probe_nics(lab, host):
        iface = check_nic(v, site, nic, by_name, by_mac, macs)
        if nic.kind == "trunk" and iface is not None:
            _vlan_checks(v, lab, site, agent, nic.switch, iface)
    return v


def verify(lab: Lab, probes: Mapping[str, ProbeSite], base_dir: Path, hosts: Sequence[str], *,
           macs: Mapping[str, Mapping[str, str]] | None = None, boot_timeout: float = 0.0,
           start_timeout: float = 30.0, call_timeout: float = 10.0,
           parallel: int = 8) -> list[HostVerdict]:
    """Verify the probe VMs of `hosts`; one verdict per host, in the order given.

    Args:
        probes: the inventory's `probes` entries.
        macs: host -> port group -> MAC of its probe VM's NICs (from vCenter), to find guest
            NIC names; empty when vCenter does not know the probe VMs.
        boot_timeout: keep retrying SSH this long while a probe VM does not answer yet (right
            after a deploy it is still booting).
    """
    sites = {h: probes[h] for h in hosts if h in probes}
    started = _start(lab, sites, base_dir, boot_timeout, start_timeout, call_timeout)
    try:
        def one(host: str) -> HostVerdict:
            if host not in sites:
                v = HostVerdict(host)
                v.add("inventory", "missing", f"no probes.{host} entry: add the probe VM's ssh "
                      "endpoint, trunks, uplinks and addresses (labharness probes plan prints "
                      "the entries)")
                return v
            return _verify_host(lab, host, sites[host], started, (macs or {}).get(host, {}))

        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(hosts)))) as pool:
            return list(pool.map(one, hosts))
    finally:
        started.close()


def _start(lab: Lab, sites: Mapping[str, ProbeSite], base_dir: Path, boot_timeout: float,
           start_timeout: float, call_timeout: float) -> ProbeSites:
    """Agents for every site; sites whose VM does not answer SSH yet are retried until
    `boot_timeout` has passed."""
    out = from_inventory(lab, sites, base_dir, start_timeout=start_timeout,
                         call_timeout=call_timeout)
    deadline = time.monotonic() + boot_timeout
    while True:
        waiting = {h: s for h, s in sites.items() if h in out.failed
                   and "ssh connection failed" in out.failed[h].lower()}
        if not waiting or time.monotonic() >= deadline:
            return out
        time.sleep(min(RETRY_S, max(0.0, deadline - time.monotonic())))
        again = from_inventory(lab, waiting, base_dir, start_timeout=start_timeout,
                               call_timeout=call_timeout)
        for h in waiting:
            if h in again.agents:
                out.failed.pop(h, None)
                out.agents[h] = again.agents[h]
            else:
                out.failed[h] = again.failed[h]
        out.closers += again.closers


def inventory_lines(lab: Lab, host: str, verdict: HostVerdict | None = None,
                    macs: Mapping[str, str] | None = None,
                    ssh: ProbeSite | None = None) -> list[str]:
    """The `probes:` entry for one host as YAML lines: guest NIC names where known (found by
    MAC), else which NIC (port group, MAC) goes there; addresses to choose per network."""
    nics = probe_nics(lab, host)
    macs = macs or {}

    def name(nic: ProbeNic) -> str:
        found = (verdict.trunks.get(nic.switch) if nic.kind == "trunk" else
                 verdict.uplinks.get(str(nic.vmnic))) if verdict else None
        if found:
            return found
        mac = macs.get(nic.network)
        return f"<guest NIC {mac}>" if mac else f"<guest NIC on {nic.network}>"

    trunks = ", ".join(f"{n.switch}: {name(n)}" for n in nics if n.kind == "trunk")
    uplinks = ", ".join(f"{n.vmnic}: {name(n)}" for n in nics if n.kind == "uplink")
    networks = [n for n, net in lab.networks.items()
                if any(net.vlan in vl for vl in switch_vlans(lab, host).values())]
    if ssh is not None:
        s = ssh.ssh
        login = f"{{host: {s.host}, username: {s.username}" + (
            f", key_file: {s.key_file}" if s.key_file else "") + "}"
        addresses = ", ".join(f"{n}: {ssh.addresses[n]}" if n in ssh.addresses else
                              f"{n}: <free address in {lab.networks[n].subnet}>"
                              for n in networks)
    else:
        login = (f"{{host: <management address of {vm_name(host)}>, username: <user>, "
                 "key_file: <private key>}")
        addresses = ", ".join(f"{n}: <free address in {lab.networks[n].subnet}>"
                              for n in networks)
    return [f"  {host}:", f"    ssh: {login}", f"    trunks: {{{trunks}}}",
            f"    uplinks: {{{uplinks}}}", f"    addresses: {{{addresses}}}"]

