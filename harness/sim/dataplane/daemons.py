"""Daemons of the simulated lab: lldpd (switches send CDPv2 + LLDP, hosts listen), OpenSSH sshd
on routers, and the per-host teaming controller. Each runs inside its namespace, in its own
session (a terminal's Ctrl-C reaches the harness, which then stops them in order), and is
recorded with its PID and start time so it can be stopped by PID later, by another process,
without ever signalling a reused PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.sim.dataplane.plan import DataplanePlan, HostProbePlan, LldpPlan, TeamPlan
from harness.sim.errors import SimError

LLDP_TX_INTERVAL = 1  # seconds; CDP/LLDP timeouts in the harness wait 1 s + 2 intervals


@dataclass(frozen=True)
class DaemonRecord:
    """A daemon the sim started."""

    name: str
    ns: str
    pid: int
    start_time: int  # /proc/PID/stat field 22: tells a reused PID apart
    argv: list[str]
    log: str


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()


def _start_time(pid: int) -> int:
    return int(_stat(pid)[19])


def is_running(record: DaemonRecord) -> bool:
    """Still alive, and still the process we started (not a reused PID, not a zombie)."""
    try:
        fields = _stat(record.pid)
        return fields[0] != "Z" and int(fields[19]) == record.start_time
    except (OSError, ValueError, IndexError):
        return False


def log_tail(record: DaemonRecord, lines: int = 5, max_bytes: int = 4096) -> str:
    """The last lines of a daemon's log (what it said before it died)."""
    try:
        with open(record.log, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc.strerror})"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail) or "(empty log)"


def dead(records: list[DaemonRecord]) -> dict[str, str]:
    """Daemons that are no longer running -> what their log said last."""
    return {r.name: f"pid {r.pid} exited; log {r.log}: {log_tail(r)}"
            for r in records if not is_running(r)}


def adopt(name: str, ns: str, pid: int, argv: list[str], log: Path) -> DaemonRecord:
    """A record for a daemon started elsewhere (the simulated vCenter, the iLO emulator), so
    `stop_all` ends it by PID like the others."""
    return DaemonRecord(name, ns, pid, _start_time(pid), argv, str(log))


def _spawn(name: str, ns: str, argv: list[str], log_dir: Path) -> DaemonRecord:
    log = log_dir / f"{name}.log"
    full = ["ip", "netns", "exec", ns, *argv]
    with open(log, "wb") as out:
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return DaemonRecord(name, ns, proc.pid, _start_time(proc.pid), full, str(log))


def _quote(value: str) -> str:
    return '"' + value.replace('"', "'") + '"'


def start_lldpd(spec: LldpPlan, run_dir: Path) -> DaemonRecord:
    """lldpd in a switch namespace sends CDPv2 (forced: -ccccc; a single -c only answers CDP
    peers, and ESXi never sends CDP first) and LLDP on its ports, port IDs from the aliases;
    on a host it only listens (-r) so its neighbour table can serve as network hints."""
    name = f"lldpd-{spec.ns}"
    conf = run_dir / f"{name}.conf"
    lines = [f"configure system hostname {_quote(spec.hostname)}",
             f"configure system platform {_quote(spec.platform)}"]
    if spec.software:
        lines.append(f"configure system description {_quote(spec.software)}")
    lines.append(f"configure lldp tx-interval {LLDP_TX_INTERVAL}")
    # LLDP's port ID is the interface name unless told; a switch says `TenGigabitEthernet1/1/1`
    # (CDP takes it from the interface alias)
    lines += [f"configure ports {ifname} lldp portidsubtype local {_quote(port)} "
              f"description {_quote(port)}" for ifname, port in spec.port_ids]
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    Path("/run/lldpd").mkdir(exist_ok=True)  # its privilege-separation chroot
    argv = ["lldpd", "-d", "-u", str(run_dir / f"{name}.sock"), "-O", str(conf),
            "-I", ",".join(spec.interfaces)]
    argv[2:2] = ["-ccccc", "-l"] if spec.mode == "send" else ["-r", "-c"]
    return _spawn(name, spec.ns, argv, run_dir)


def start_sshd(ns: str, address: str, port: int, ssh_dir: Path, run_dir: Path) -> DaemonRecord:
    """OpenSSH sshd on the router's management address, key login only, host key from the
    sim's own directory (the sim also writes the matching known_hosts)."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    name = f"sshd-{ns}"
    conf = run_dir / f"{name}.conf"
    conf.write_text("\n".join([
        f"ListenAddress {address}:{port}",
        f"HostKey {ssh_dir / 'host_ed25519'}",
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        f"PidFile {run_dir / (name + '.pid')}",
        "Subsystem sftp internal-sftp",
    ]) + "\n", encoding="utf-8")
    return _spawn(name, ns, ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], run_dir)


def _team_config(ns: str, teams: list[TeamPlan], run_dir: Path,
                 probe: HostProbePlan | None) -> dict[str, str]:
    """Write one host's controller config; returns its fork job (see teaming.fork_all)."""
    name = f"teaming-{ns}"
    config = run_dir / f"{name}.json"
    ports = ([(t.port, t.vlans) for t in probe.trunks] + [(p.port, p.vlans) for p in probe.pinned]
             if probe else [])
    relays = [{"port": port, "vlans": [list(v) for v in vlans]} for port, vlans in ports]
    config.write_text(json.dumps({"interval_ms": 100, "teams": [
        {**asdict(t), "uplinks": [asdict(u) for u in t.uplinks], "macs": list(t.macs)}
        for t in teams], "relays": relays}), encoding="utf-8")
    return {"ns": ns, "config": str(config), "status": str(team_status_path(run_dir, ns)),
            "log": str(run_dir / f"{name}.log")}


FORK_TIMEOUT = 30.0


def start_teaming(hosts: list[tuple[str, list[TeamPlan], HostProbePlan | None]],
                  run_dir: Path) -> list[DaemonRecord]:
    """Every host's vSwitch controller (its teams, and the relays of its probe VM's ports),
    forked from one interpreter (`teaming.fork_all`): one Python start for the lab, and the
    controllers share its pages. Each is still its own process in its own session and
    namespace, recorded and stopped by PID like the other daemons.

    Raises:
        SimError: a controller could not enter its namespace (with its log's reason).
    """
    if not hosts:
        return []
    manifest = run_dir / "teaming.json"
    jobs = [_team_config(ns, teams, run_dir, probe) for ns, teams, probe in hosts]
    manifest.write_text(json.dumps(jobs), encoding="utf-8")
    argv = [sys.executable, "-m", "harness.sim.dataplane.teaming", "--fork", str(manifest)]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=FORK_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SimError(f"teaming controllers did not start in {FORK_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise SimError(f"teaming controllers: {done.stderr.strip() or done.returncode}")
    pids: dict[str, int] = json.loads(done.stdout)["pids"]
    records = []
    for job in jobs:
        pid = pids[job["ns"]]
        try:
            start = _start_time(pid)
        except (OSError, ValueError, IndexError):
            start = 0  # already gone: is_running says so, and _wait_for_teams names the log
        records.append(DaemonRecord(f"teaming-{job['ns']}", job["ns"], pid, start,
                                    [*argv, job["ns"]], job["log"]))
    return records


def team_status_path(run_dir: Path, ns: str) -> Path:
    return run_dir / f"teaming-{ns}.status.json"


def start_all(plan: DataplanePlan, run_dir: Path, ssh_dir: Path, *, data_plane: bool = True,
              management: bool = True) -> list[DaemonRecord]:
    """Start the plan's daemons; returns their records (stop them with `stop_all`).

    `data_plane`: the teaming controllers and lldpd (they send and hear frames on the lab's
    wire); `management`: sshd on the management network (it hears nothing of the data plane,
    so it need not wait for the BMCs' adapter state).
    """
    records: list[DaemonRecord] = []
    try:
        if data_plane:
            probes = {plan.ns(p.host): p for p in plan.host_probes}
            records += start_teaming([(ns, teams, probes.get(ns))
                                      for ns, teams in plan.teams.items()
                                      if teams or ns in probes], run_dir)
            for spec in plan.lldp:
                records.append(start_lldpd(spec, run_dir))
        if management:
            for ep in plan.endpoints:
                if ep.kind == "ssh":
                    records.append(start_sshd(ep.ns, str(ep.ip), ep.port, ssh_dir, run_dir))
    except BaseException:
        stop_all(records)
        raise
    return records


def stop_all(records: list[DaemonRecord], grace: float = 1.0) -> None:
    """SIGTERM every daemon we started (by PID, after checking it is still ours), wait, then
    SIGKILL what is left."""
    alive = [r for r in records if is_running(r)]
    for r in alive:
        try:
            os.killpg(r.pid, signal.SIGTERM)  # its own session: `ip netns exec` and the daemon
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for r in alive:
        while is_running(r) and time.monotonic() < deadline:
            _reap(r.pid)
            time.sleep(0.005)
        if is_running(r):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(r.pid, signal.SIGKILL)
        _reap(r.pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by an earlier `sim up`): init reaps it
