"""Bring a simulated lab up and down, and say what is running.

`up` first removes leftovers of a crashed run, then builds the data plane, starts the daemons
and applies scenario faults; if anything fails (or Ctrl-C arrives) it tears down what it made.
Everything is recorded in /run/labharness/<lab>/state.json so `down` and `status` work from
another process. `down` stops daemons by PID (after checking they are still ours) *before*
deleting their namespaces: a process left in a namespace keeps it alive.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.drivers.vsphere.errors import VsphereError
from harness.facts.vsphere import NETSTACK_OF_STACK
from harness.lab.inventory import Inventory, SecretError, resolve_secret
from harness.lab.model import Lab
from harness.lab.types import LAB_NAME_PATTERN, PATTERN_HELP
from harness.sim.dataplane import build as dp_build
from harness.sim.dataplane import daemons, kernel, names, neigh, netns
from harness.sim.dataplane.plan import STACK_TABLES, DataplanePlan, plan_dataplane
from harness.sim.errors import SimError
from harness.sim.ilo import IloProcess, IloSpecError, IloStartError
from harness.sim.ilo import spec_from_lab as ilo_spec_from_lab
from harness.sim.opnsense import (
    OpnsenseProcess,
    OpnsenseSpecError,
    OpnsenseStartError,
    new_api_key,
    router_spec,
)
from harness.sim.scenarios import FdbFault, NftFault, Scenario, realise
from harness.sim.state import EndpointAccess, SimState, SshMaterial, save_state
from harness.sim.state import load_state as _load
from harness.sim.vcenter.build import vcenter_build
from harness.sim.vcenter.hostlogs import write_host_logs
from harness.sim.vcenter.launcher import VcsimError, VcsimProcess
from harness.sim.vcenter.provision import ProvisionError, provision
from harness.sim.vcenter.spec import HardwareSpec, LldpSpec

RUN_ROOT = Path("/run/labharness")


def run_dir(lab: str) -> Path:
    """The lab's state directory; refuses names that could point anywhere else."""
    if not re.fullmatch(LAB_NAME_PATTERN, lab):
        raise SimError(f"{lab!r} is not a lab name ({PATTERN_HELP[LAB_NAME_PATTERN]})")
    return RUN_ROOT / lab


def ssh_dir(lab: str) -> Path:
    return run_dir(lab) / "ssh"


def load_state(lab: str) -> SimState | None:
    """The running lab's state, or None when none is recorded.

    Raises:
        SimError: the state file is unreadable (which field, and what to do).
    """
    return _load(run_dir(lab) / "state.json")


LINKS_TIMEOUT_S = 10.0
_STATE_LOCK = threading.Lock()  # `up` starts the daemons, the routers and vCenter side by side


def _write_state(state: SimState) -> None:
    with _STATE_LOCK:
        save_state(state, run_dir(state.lab) / "state.json")


def _ssh_material(lab: str, plan: DataplanePlan) -> SshMaterial:
    """A client key for the harness, a host key for the sim's sshd, and the known_hosts that
    pins it, so SSH to the sim keeps host-key verification on."""
    d = ssh_dir(lab)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("id_ed25519", "host_ed25519"):
        if not (d / name).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lh-{lab}",
                            "-f", str(d / name)], check=True, capture_output=True)
    shutil.copyfile(d / "id_ed25519.pub", d / "authorized_keys")
    host_pub = (d / "host_ed25519.pub").read_text(encoding="utf-8").split()
    lines = [f"[{ep.ip}]:{ep.port} {host_pub[0]} {host_pub[1]}" if ep.port != 22 else
             f"{ep.ip} {host_pub[0]} {host_pub[1]}" for ep in plan.endpoints if ep.kind == "ssh"]
    (d / "known_hosts").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return SshMaterial(key_file=str(d / "id_ed25519"), known_hosts=str(d / "known_hosts"))


def _wait_for_teams(lab: str, host_namespaces: list[str], timeout: float = 5.0) -> None:
    """The lab forwards once every teaming controller has chosen its uplinks."""
    deadline = time.monotonic() + timeout
    pending = list(host_namespaces)
    while pending and time.monotonic() < deadline:
        pending = [ns for ns in pending
                   if not daemons.team_status_path(run_dir(lab), ns).exists()]
        if pending:
            time.sleep(0.01)
    if pending:
        raise SimError(f"teaming controllers did not start in {timeout} s: {', '.join(pending)} "
                       f"(see {run_dir(lab)}/teaming-*.log)")


def _wait_for_links(plan: DataplanePlan, state: SimState, timeout: float = LINKS_TIMEOUT_S
                    ) -> None:
    """Until the kernel has made every link operational (`dp_build.wait_operational`): a bridge
    port forwards, and a veth opened before its peer transmits, only from then on. Later than
    `timeout` (the kernel busy removing another lab's namespaces) is a note, not a failure:
    what is sent before then is lost, and the probes retry."""
    try:
        waited = dp_build.wait_operational(plan.namespace_names(), plan.root_ifaces,
                                           timeout=timeout)
    except netns.NetnsError as exc:
        with _STATE_LOCK:
            state.notes.append(f"{exc}; the daemons started anyway")
        waited = timeout
    with _STATE_LOCK:
        state.timings["links_s"] = waited


def vcenter_dir(lab: str) -> Path:
    """The simulated vCenter's spec, log and certificate (inventory/sim.yaml pins it)."""
    return run_dir(lab) / "vcenter"


def _start_vcenter(lab: Lab, scenarios: list[Scenario], inventory: Inventory | None,
                   plan: DataplanePlan, base_dir: Path, state: SimState) -> None:
    """lh-vcsim in the mgmt namespace on the inventory's vCenter address (its hosts' network
    hints read from their lldpd), then the lab's vSphere configuration built in it through
    pyVmomi, as a nested-lab build would."""
    endpoint = next((e for e in plan.endpoints if e.kind == "vcenter"), None)
    if endpoint is None or inventory is None or inventory.vcenter is None:
        return
    try:
        secret = resolve_secret(inventory.vcenter.password, base_dir)
    except SecretError as exc:
        raise SimError(f"inventory vcenter.password: {exc}") from None
    t0 = time.perf_counter()
    build = vcenter_build(lab, scenarios)
    rdir = run_dir(lab.name)
    lldp = {spec.hostname: LldpSpec(socket=str(rdir / f"lldpd-{spec.ns}.sock"),
                                    interfaces={i: i for i in spec.interfaces})
            for spec in plan.lldp if spec.mode == "receive"}
    logs = vcenter_dir(lab.name) / "logs"
    for h in build.spec.hosts:
        if h.boot_time is not None:
            write_host_logs(logs / h.name, h.boot_time, datetime.now(UTC),
                            build.reboots.get(h.name))
    vcsim_spec = build.spec.model_copy(update={"hosts": [
        h.model_copy(update={"lldp": lldp.get(h.name), "log_dir": str(logs / h.name),
                             **_host_view(build.lab, inventory, plan, h.name)})
        for h in build.spec.hosts]})
    try:
        proc = VcsimProcess.start(vcsim_spec, f"{endpoint.ip}:{endpoint.port}",
                                  inventory.vcenter.username, secret.reveal(),
                                  workdir=vcenter_dir(lab.name), netns=endpoint.ns)
    except VcsimError as exc:
        raise SimError(f"simulated vCenter: {exc}") from None
    with _STATE_LOCK:
        state.daemons.append(daemons.adopt("lh-vcsim", endpoint.ns, proc.pid,
                                           [str(a) for a in proc.argv], proc.log_file))
    _write_state(state)
    with _STATE_LOCK:
        state.timings["vcenter_start_s"] = round(time.perf_counter() - t0, 3)
    try:
        with proc.connect(inventory.vcenter.username, secret) as conn:
            report = provision(conn, build.lab, vsphere_faults=build.faults)
    except (ProvisionError, VsphereError) as exc:
        raise SimError(f"provisioning the simulated vCenter: {exc}") from None
    with _STATE_LOCK:
        state.timings["vcenter_provision_s"] = round(report.total_s, 3)


def _host_view(lab: Lab, inventory: Inventory, plan: DataplanePlan, host: str
               ) -> dict[str, Any]:
    """What the host's esxcli reads in the data plane: its namespace, which routing table is
    which TCP/IP stack there, and (when its server has an emulated BMC) the adapter state the
    BMC applied."""
    server = lab.hosts[host].server
    hardware = (HardwareSpec(file=str(ilo_dir(lab.name) / "hardware.json"), server=server)
                if server is not None and server in inventory.bmcs else None)
    return {"netns": plan.ns(host), "hardware": hardware,
            "netstacks": {NETSTACK_OF_STACK["default"]: "main",
                          **{NETSTACK_OF_STACK[stack]: str(table)
                             for stack, table in STACK_TABLES.items()}}}


def ilo_dir(lab: str) -> Path:
    """The iLO emulator's spec, log and per-BMC certificates (inventory/sim.yaml pins them)."""
    return run_dir(lab) / "ilo"


def _switch_side(lab: Lab, plan: DataplanePlan) -> dict[str, tuple[str, list[str]]]:
    """`host/vmnic` -> the switch port's namespace and interfaces at the cable's far end.

    An adapter that passes nothing (F10) is emulated by dropping every frame at the switch
    port it is cabled to: packet sockets in the host namespace (lldpd, captures) see frames
    before any ingress hook there, so a drop on the host side would still let them hear CDP.
    """
    out: dict[str, tuple[str, list[str]]] = {}
    for cable in lab.cabling:
        for (host, vmnic), (sw, port) in (cable.ends, cable.ends[::-1]):
            links = plan.ports.get(f"{sw}/{port}")
            if host in lab.hosts and links is not None:
                out[f"{host}/{vmnic}"] = (links.ns, list(links.ifaces))
    return out


def _side_by_side(*steps: Callable[[], None]) -> None:
    """Run `steps` in threads; wait for all of them (so a failure leaves nothing half-started
    behind that `down` does not know), then raise the first failure."""
    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="lh-sim-up") as pool:
        futures = [pool.submit(step) for step in steps]
    for future in futures:
        future.result()


def _start_daemons(lab_name: str, plan: DataplanePlan, state: SimState) -> None:
    """The data plane's daemons (teaming controllers, lldpd), ready when every controller
    has chosen its uplinks."""
    t0 = time.perf_counter()
    started = daemons.start_all(plan, run_dir(lab_name), ssh_dir(lab_name), management=False)
    with _STATE_LOCK:
        state.daemons += started
    _write_state(state)
    _wait_for_teams(lab_name, [ns for ns, teams in plan.teams.items() if teams])
    with _STATE_LOCK:
        state.timings["daemons_s"] = round(time.perf_counter() - t0, 3)


def _start_sshds(lab_name: str, plan: DataplanePlan, state: SimState) -> None:
    """sshd on the management network (routers, probe VMs, VMs)."""
    t0 = time.perf_counter()
    started = daemons.start_all(plan, run_dir(lab_name), ssh_dir(lab_name), data_plane=False)
    with _STATE_LOCK:
        state.daemons += started
    _write_state(state)
    with _STATE_LOCK:
        state.timings["sshd_s"] = round(time.perf_counter() - t0, 3)


def _start_bmcs(lab: Lab, inventory: Inventory | None, plan: DataplanePlan, base_dir: Path,
                state: SimState) -> None:
    """The iLO emulator in the mgmt namespace, one HTTPS site per BMC address. It owns the
    adapters' state, so it also blocks the uplinks of a port its settings leave dead (F10)."""
    bmcs = [e for e in plan.endpoints if e.kind == "bmc"]
    if not bmcs or inventory is None:
        return
    t0 = time.perf_counter()
    try:
        spec = ilo_spec_from_lab(lab, inventory, _switch_side(lab, plan), base_dir=base_dir)
        proc = IloProcess.start(spec, ilo_dir(lab.name), netns=bmcs[0].ns)
    except (IloSpecError, IloStartError) as exc:
        raise SimError(f"iLO emulator: {exc}") from None
    with _STATE_LOCK:
        state.daemons.append(daemons.adopt("lh-ilo", bmcs[0].ns, proc.pid,
                                           ["python", "-m", "harness.sim.ilo"], proc.log_file))
    _write_state(state)
    with _STATE_LOCK:
        state.timings["ilo_start_s"] = round(time.perf_counter() - t0, 3)


def opnsense_dir(lab: str) -> Path:
    """The OPNsense emulators' specs, logs, certificates and API keys (inventory/sim.yaml
    references the key files and pins the certificates)."""
    return run_dir(lab) / "opnsense"


def _api_secret(ref: str, generated: Path, value: str, base_dir: Path) -> tuple[str, bool]:
    """The value for one API key part, and whether it is the sim's own (public) one.

    A `file:` reference into the sim's run directories (/run/labharness) names the sim's own
    key: a fresh value each run, written to this lab's key file (owner-only, the way OPNsense
    hands out apikey.txt). Any other reference is the inventory's own key, which the emulated
    router then accepts.
    """
    if ref.startswith("file:") and Path(ref[len("file:"):]).is_relative_to(RUN_ROOT):
        generated.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(generated, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
        return value, True
    try:
        return resolve_secret(ref, base_dir).reveal(), ref.startswith("plain:")
    except SecretError as exc:
        raise SimError(f"inventory opnsense: {exc}") from None


def _start_routers(lab: Lab, inventory: Inventory | None, plan: DataplanePlan, base_dir: Path,
                   state: SimState) -> None:
    """An OPNsense API inside each `kind: opnsense` router's namespace the inventory reaches
    through its API, on the router's management address; its answers come from the
    namespace's kernel at request time."""
    routers = [e for e in plan.endpoints if e.kind == "opnsense"]
    if not routers or inventory is None:
        return
    t0 = time.perf_counter()
    workdir = opnsense_dir(lab.name)
    for ep in routers:
        api = inventory.opnsense[ep.name]
        new_key, new_secret = new_api_key()
        key, key_shown = _api_secret(api.key, workdir / f"{ep.name}.key", new_key, base_dir)
        secret, secret_shown = _api_secret(api.secret, workdir / f"{ep.name}.secret",
                                           new_secret, base_dir)
        try:
            spec = router_spec(lab, ep.name, str(ep.ip), ep.port, key, secret)
            proc = OpnsenseProcess.start(spec, workdir, netns=ep.ns)
        except (OpnsenseSpecError, OpnsenseStartError) as exc:
            raise SimError(f"OPNsense API of {ep.name}: {exc}") from None
        with _STATE_LOCK:
            state.daemons.append(daemons.adopt(f"opnsense-{ep.name}", ep.ns, proc.pid, proc.argv,
                                               proc.log_file))
        _write_state(state)
        with _STATE_LOCK:
            state.access[ep.name] = EndpointAccess(
                url=str(api.url), verify_tls=api.verify_tls, ca_file=api.ca_file,
                username=key if key_shown else "", username_ref=None if key_shown else api.key,
                password=secret if secret_shown else None,
                password_ref=None if secret_shown else api.secret)
    with _STATE_LOCK:
        state.timings["opnsense_start_s"] = round(time.perf_counter() - t0, 3)


def _access(inventory: Inventory | None, base_dir: Path) -> dict[str, EndpointAccess]:
    """How to log in to each HTTPS endpoint, for `sim status --json`."""
    if inventory is None:
        return {}
    out: dict[str, EndpointAccess] = {}
    endpoints = [("vcenter", inventory.vcenter)] if inventory.vcenter is not None else []
    endpoints += sorted(inventory.bmcs.items())
    for name, ep in endpoints:
        shown = inventory.backend == "sim" and ep.password.startswith("plain:")
        out[name] = EndpointAccess(
            url=str(ep.url), username=ep.username, verify_tls=ep.verify_tls,
            ca_file=ep.ca_file,
            password=resolve_secret(ep.password, base_dir).reveal() if shown else None,
            password_ref=None if shown else ep.password)
    return out


def leftovers(lab: str) -> list[str]:
    """Namespaces of this lab that exist now (by the lab's exact prefix)."""
    return [n for n in netns.list_netns() if n.startswith(names.prefix(lab))]


def _root_holders() -> dict[str, set[ipaddress.IPv4Network]]:
    """Root-namespace interface -> the IPv4 networks it routes or holds an address in."""
    held: dict[str, set[ipaddress.IPv4Network]] = {}
    routes = json.loads(netns.run(["ip", "-j", "-4", "route", "show"]).stdout or "[]")
    for r in routes:
        if r.get("dst") not in (None, "default") and r.get("dev"):
            held.setdefault(r["dev"], set()).add(ipaddress.IPv4Network(r["dst"], strict=False))
    for link in json.loads(netns.run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]"):
        for a in link.get("addr_info", []):
            net = ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
            held.setdefault(link["ifname"], set()).add(net)
    return held


def _recorded_labs() -> dict[str, SimState | None]:
    """Every lab with a state file here (None: it is unreadable even as plain JSON)."""
    labs: dict[str, SimState | None] = {}
    if not RUN_ROOT.is_dir():
        return labs
    for d in sorted(RUN_ROOT.iterdir()):
        if re.fullmatch(LAB_NAME_PATTERN, d.name) and (d / "state.json").is_file():
            try:
                labs[d.name] = load_state(d.name)
            except SimError:
                labs[d.name] = _raw_state(d.name)
    return labs


def is_stale(state: SimState) -> bool:
    """Nothing of the lab runs any more (its daemons and its owning run are gone: a killed
    session or a reboot), so removing what its state records harms no one."""
    return (not any(daemons.is_running(d) for d in state.daemons)
            and (state.owner is None or not daemons.is_running(state.owner)))


def claim_networks(plan: DataplanePlan, lab: str) -> list[str]:
    """Make sure the root namespace routes the lab's management network to this lab only.

    Another lab on this machine may hold the same network (every sim lab uses the
    management network its inventory pins). A stale one (nothing of it runs) is taken down by
    the exact names its state records; a live one, or an interface no lab here records, is an
    error naming it: connecting anyway would reach the other lab's namespace.

    Returns what was done, one line each (for `sim up` to print).
    """
    ours = {a.ip.network for a in plan.addresses if a.ns == ""}
    mine = set(plan.root_ifaces)
    def clashes() -> dict[str, list[str]]:
        return {dev: sorted(str(n) for n in nets if any(n.overlaps(o) for o in ours))
                for dev, nets in _root_holders().items()
                if dev not in mine and any(n.overlaps(o) for o in ours for n in nets)}
    found = clashes()
    if not found:
        return []
    done: list[str] = []
    labs = _recorded_labs()
    for dev, nets in sorted(found.items()):
        holder = next((name for name, st in labs.items()
                       if st is not None and dev in st.root_ifaces and name != lab), None)
        state = labs.get(holder) if holder else None
        if state is not None and is_stale(state):
            down(state.lab)
            done.append(f"removed stale lab {state.lab!r} (nothing of it ran; it held "
                        f"{', '.join(nets)} on {dev})")
            continue
        where = ", ".join(nets)
        if state is not None:
            owner = (f" by labharness PID {state.owner.pid}" if state.owner is not None
                     else " (labharness sim up)")
            raise SimError(
                f"the management network {where} is in use by lab {state.lab!r} on {dev}, "
                f"running{owner}: take it down first (labharness sim down --lab "
                f"{state.lab}), or wait for it to end")
        raise SimError(
            f"the management network {where} is already routed via {dev}, which no "
            f"labharness lab on this machine records: remove it if it is a leftover "
            f"(ip link del {dev}) or free that network")
    left = clashes()
    if left:
        dev, nets = next(iter(left.items()))
        raise SimError(f"the management network {', '.join(nets)} is still routed via {dev} "
                       "after its stale lab was removed")
    return done


def up(lab: Lab, inventory: Inventory | None, scenarios: list[Scenario] | None = None, *,
       base_dir: Path = Path("."), owner_pid: int | None = None) -> SimState:
    """Build the simulated lab (idempotent: a running or crashed earlier instance is removed).

    `owner_pid`: the process that will tear the lab down at its end (a run); when it dies
    first (SIGKILL), `status` says the lab is stale.

    Raises:
        SimError: missing kernel features or tools, or a build step failed.
    """
    started = time.perf_counter()
    # right after a big lab was removed this waits for the kernel to finish destroying its
    # namespaces (seconds at 32 hosts): recorded apart so `up_s` is not misread
    features = kernel.detect()
    kernel_s = round(time.perf_counter() - started, 3)
    problem = features.problem()
    if problem:
        raise SimError(problem)
    down(lab.name)
    chosen = scenarios or []
    realised, changes = realise(lab, chosen)
    plan = plan_dataplane(realised, inventory)
    # leftovers of a crashed run whose state file is gone: only the exact names we build
    dp_build.teardown([n for n in plan.namespace_names() if n in netns.list_netns()])
    cleared = claim_networks(plan, lab.name)
    rdir = run_dir(lab.name)
    rdir.mkdir(parents=True, exist_ok=True)
    state = SimState(lab=lab.name, namespaces=plan.namespace_names(),
                     root_ifaces=list(plan.root_ifaces), daemons=[],
                     scenarios=[s.id for s in chosen],
                     faults=[f"{incident}: {c.text()}" for incident, c in changes],
                     notes=cleared)
    if owner_pid is not None:
        state.owner = daemons.adopt("labharness", "", owner_pid, list(sys.argv), Path(""))
    _write_state(state)  # from here on, `down` can clean up whatever exists
    state.timings["kernel_s"] = kernel_s
    try:
        t0 = time.perf_counter()
        if (note := neigh.fit(plan)) is not None:
            state.notes.append(note)
        dp_build.build(plan)
        state.timings["build_s"] = round(time.perf_counter() - t0, 3)
        state.ssh = _ssh_material(lab.name, plan)
        def bmcs_then_daemons() -> None:
            # the BMCs before the data plane's daemons: the emulated adapters' state (F10) is
            # in force before any daemon sends or hears a frame
            _start_bmcs(realised, inventory, plan, base_dir, state)
            _wait_for_links(plan, state)  # the daemons send from their start (beacons, LLDP)
            _start_daemons(lab.name, plan, state)

        # and those, sshd on the management network, the routers' APIs and vCenter side by
        # side: none needs another to start (vCenter reads LLDP, the routes and the BMCs'
        # adapter state only when asked)
        _side_by_side(bmcs_then_daemons,
                      lambda: _start_sshds(lab.name, plan, state),
                      lambda: _start_routers(realised, inventory, plan, base_dir, state),
                      lambda: _start_vcenter(lab, chosen, inventory, plan, base_dir, state))
        for scenario in chosen:
            if scenario.faults is None:
                continue
            for fault in scenario.faults(lab, plan):
                if isinstance(fault, NftFault):
                    netns.run(["nft", "-f", "-"], ns=fault.ns, stdin="\n".join(fault.rules) + "\n")
                elif isinstance(fault, FdbFault):
                    netns.run(["bridge", "-batch", "-"], ns=fault.ns,
                              stdin="\n".join(fault.lines) + "\n")
                state.faults.append(f"{scenario.id}: {fault.description}")
    except BaseException:
        down(lab.name)
        raise
    state.endpoints = list(plan.endpoints)
    state.access = {**_access(inventory, base_dir), **state.access}
    state.vmknics = list(plan.vmknics)
    state.ports = dict(plan.ports)
    state.vm_ifaces = dict(plan.vm_ifaces)
    state.clients = dict(plan.clients)
    state.teams = {ns: [t.port_group for t in teams] for ns, teams in plan.teams.items()}
    state.host_probes = list(plan.host_probes)
    state.vm_access = list(plan.vm_access)
    state.timings["up_s"] = round(time.perf_counter() - started, 3)
    _write_state(state)
    return state


@dataclass
class DownReport:
    stopped: list[str]
    removed: list[str]


def _raw_state(lab: str) -> SimState | None:
    """The removable part of a state file this version cannot read (another version wrote
    it): its namespaces, root interfaces and daemons, or None if even that is unreadable."""
    try:
        raw = json.loads((run_dir(lab) / "state.json").read_text(encoding="utf-8"))
        return SimState(lab=lab, namespaces=[str(n) for n in raw.get("namespaces", [])],
                        root_ifaces=[str(i) for i in raw.get("root_ifaces", [])],
                        daemons=[daemons.DaemonRecord(**d) for d in raw.get("daemons", [])])
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def down(lab: str) -> DownReport:
    """Stop the lab's daemons and delete its namespaces; safe to call when nothing runs."""
    try:
        state = load_state(lab)
    except SimError:
        # written by another labharness version: what it recorded can still be removed
        state = _raw_state(lab)
    stopped: list[str] = []
    # exact names only (what state.json recorded): a prefix could match another lab's
    namespaces: set[str] = set()
    root_ifaces = [names.root_veth(lab)]
    if state is not None:
        running = [d for d in state.daemons if daemons.is_running(d)]
        daemons.stop_all(state.daemons)
        stopped = [d.name for d in running]
        namespaces |= set(state.namespaces)
        root_ifaces = list(dict.fromkeys([*state.root_ifaces, *root_ifaces]))
    existing_root = {p.name for p in Path("/sys/class/net").iterdir()}
    removed = dp_build.teardown(sorted(namespaces), [i for i in root_ifaces if i in existing_root])
    shutil.rmtree(run_dir(lab), ignore_errors=True)
    return DownReport(stopped, removed)


def status(lab: str) -> dict[str, Any]:
    """What runs now, for `labharness sim status --json` and for tools pointed at the sim."""
    state = load_state(lab)
    present = leftovers(lab)
    if state is None:
        return {"lab": lab, "running": False, "namespaces": present}
    out = state.model_dump(mode="json")
    out["running"] = True
    out["namespaces"] = [{"name": n, "present": n in present} for n in state.namespaces]
    out["daemons"] = [{**asdict(d), "running": daemons.is_running(d)} for d in state.daemons]
    # a run that was killed (SIGKILL) leaves its lab behind with daemons gone: say so
    out["owner_running"] = state.owner is not None and daemons.is_running(state.owner)
    out["stale"] = (any(not d["running"] for d in out["daemons"])
                    or (state.owner is not None and not out["owner_running"]))
    teams: dict[str, Any] = {}
    for ns in state.teams:
        path = daemons.team_status_path(run_dir(lab), ns)
        try:
            teams[ns] = json.loads(path.read_text(encoding="utf-8"))["teams"]
        except (OSError, ValueError, KeyError):
            teams[ns] = None
    out["team_status"] = teams
    return out
