"""Benchmark: the healthy simulated lab at 3, 8, 16 and 32 hosts, run as users run it.

For each size N it generates the lab and inventory (`labharness sim generate`, the generator
users size their own labs with), runs `labharness run` on it (sim up, every suite, sim down) and
prints wall time, tests, failures and errors, skips that are not the expected ones (disruptive
drills, what an iLO 4 cannot show), `sim up` time (`sim up s`, and apart from it `kernel s`:
the kernel check when it waited a second or more for the kernel to finish removing the previous
run's namespaces, which it does seconds after a 32-host lab came down), and the peak memory of
everything the run started: the sum of PSS (proportional set size: shared pages counted once)
over the processes that appeared after the run began, sampled every 0.5 s (reading every
process's smaps_rollup is kernel work the measured run pays for: about a sixth of a core at
0.2 s; the peak lasts the whole wire phase, tens of seconds). The largest size runs `--repeat`
times in a row (default 3): no false verdict may appear in any of them. Before each run it times
one fixed pure-Python loop (`cpu s`): on a shared virtual machine the CPU's speed can vary by
half from minute to minute, and this says how fast the machine was when a run's wall time was
taken.

Last, in one sim of `--ratio-hosts` hosts (default 8), it probes every vMotion, iSCSI and VTEP
pair's echo and path MTU the old way (one pair after another through `ProbeSites.echo` and
`path_mtu`) and the concurrent way (`PathProbes.prefetch`: each probe VM probes its peers at
once, the probe VMs side by side), checks both give the same verdicts, and prints `ratio=`
sequential time / concurrent time.

Usage (root, nothing else using the machine): .venv/bin/python bench/scale.py [N ...]
    [--repeat R] [--keep-dir DIR]
Targets (issue 13): 32 hosts in <= 60 s, 0 failures, 3 runs in a row; sim up <= 5 s; peak
PSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.drivers.probe.paths import PathProbes  # noqa: E402
from harness.drivers.probe.sites import EchoJob, MtuJob, ProbeSites  # noqa: E402
from harness.lab import generate  # noqa: E402
from harness.lab.loader import load_inventory, load_lab  # noqa: E402
from harness.lab.model import Lab  # noqa: E402
from harness.lab.subjects import subjects_of  # noqa: E402
from harness.lab.views import VXLAN_MIN_MTU  # noqa: E402

EXPECTED_SKIPS = ("disruptive", "not verifiable through this BMC")
SAMPLE_S = 0.5
SUBNET = "198.19.240.0/24"  # its own management /24: a lab left up elsewhere is not disturbed


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


class PssSampler:
    """Peak total PSS of the processes started after `start()` (the run and what it spawned:
    vcsim, the BMC emulators, lldpd, sshd, teaming controllers, probe agents)."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._since = 0
        self._me = os.getpid()

    def start(self) -> None:
        self._since = self._now_ticks()
        self._thread.start()

    @staticmethod
    def _now_ticks() -> int:
        with open("/proc/uptime", encoding="ascii") as f:
            return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            total = 0
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) == self._me:
                    continue
                try:
                    if _start_ticks(int(name)) >= self._since:
                        total += _pss_kb(int(name))
                except OSError:
                    continue
            self.peak_kb = max(self.peak_kb, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


def make_lab(n: int, out: Path) -> tuple[Path, Path]:
    lab = generate.scale_lab(generate.load(ROOT / "labs" / "sim.yaml"), n, f"lhscale{n}")
    inv = generate.scale_inventory(generate.load(ROOT / "inventory" / "sim.yaml"), lab,
                                   lab["name"], SUBNET)
    return generate.write(lab, inv, out)


def cpu_loop_s(n: int = 5_000_000) -> float:
    """Seconds one core takes for a fixed loop (0.3 s on this 2-core machine at full speed)."""
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - t0


def run_once(lab: Path, inventory: Path, report: Path) -> dict[str, Any]:
    sampler = PssSampler()
    sampler.start()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--lab", str(lab),
                           "--inventory", str(inventory), "--report-dir", str(report),
                           "--history", "off"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    peak = sampler.stop()
    try:
        summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    except OSError:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{lab}: no summary.json (exit {proc.returncode})") from None
    tests = summary["tests"]
    odd = [s for s in summary["skipped"] if not any(r in s["reason"] for r in EXPECTED_SKIPS)]
    up = next((n for n in summary.get("notes", []) if "simulated lab up in" in n), "")
    return {"wall_s": wall, "exit": proc.returncode, "total": tests["total"],
            "failed": tests["failed"], "errors": tests["errors"], "odd_skips": odd,
            **dict(zip(("sim_up", "kernel"), sim_up_times(up), strict=True)),
            "peak_pss_mb": peak / 1024,
            "failures": [f"{f['subject']}: {f['message']}" for f in summary["findings"]
                         if f["severity"] != "info"][:5]}


def sim_up_times(note: str) -> tuple[str, str]:
    """(`sim up` seconds, of them the kernel check's) from the run's note, as `labharness run`
    words it (`harness.cli._up_time`); "?" when the note is missing."""
    if "up in " not in note:
        return "?", "?"
    up = note.split("up in ", 1)[1].split(" s", 1)[0]
    kernel = (note.split(" s of it in the kernel check", 1)[0].rsplit("(", 1)[1]
              if " s of it in the kernel check" in note else "0")
    return up, kernel


def _build_s(r: dict[str, Any]) -> str:
    """`sim up` without the kernel's wait."""
    try:
        return f"{float(r['sim_up']) - float(r['kernel']):.2f}"
    except ValueError:
        return "?"


def path_jobs(lab: Lab, sites: ProbeSites) -> tuple[list[EchoJob], list[tuple[EchoJob, MtuJob]]]:
    """Every vMotion, iSCSI and VTEP pair's echo and path MTU, as the wire suites ask them."""
    echoes: list[EchoJob] = []
    mtus: list[tuple[EchoJob, MtuJob]] = []
    for kind, service, fixed in (("vmotion_pairs", "vmotion", None),
                                 ("iscsi_pairs", "iscsi", None),
                                 ("vtep_pairs", "vxlan", VXLAN_MIN_MTU)):
        for pair in subjects_of(lab, kind):
            a, b = pair.split("->")
            mine = [v for v in lab.hosts[a].vmknics.values() if service in v.services]
            for theirs in (v for v in lab.hosts[b].vmknics.values() if service in v.services):
                dst = str(theirs.ip.ip)
                pg = mine[0].port_group if service == "vxlan" else theirs.port_group
                net = sites.network_of(dst)
                echo = EchoJob(a, pg, dst, network=None if service == "vxlan" or net is None
                               else net[0], count=3)
                echoes.append(echo)
                mtus.append((echo, MtuJob(a, pg, dst, hi=fixed or max(v.mtu for v in mine))))
    return echoes, mtus


def probing_ratio(lab_path: Path, inv_path: Path) -> None:
    from harness.sim import lifecycle
    from harness.sim.probesites import sim_probe_sites

    lab = load_lab(lab_path)
    inventory = load_inventory(inv_path, lab).inventory
    state = lifecycle.up(lab, inventory)
    try:
        sites = sim_probe_sites(lab, state)
        try:
            echoes, mtus = path_jobs(lab, sites)
            t0 = time.perf_counter()
            sequential: dict[EchoJob | MtuJob, bool] = {}
            for job in echoes:
                sequential[job] = sites.echo(job.host, job.port_group, job.dst,
                                             network=job.network,
                                             count=job.count).answered == job.count
            for echo, mtu in mtus:
                if sequential[echo]:
                    sequential[mtu] = sites.path_mtu(mtu.host, mtu.port_group, mtu.dst,
                                                     hi=mtu.hi).path_mtu >= mtu.hi
            seq_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            paths = PathProbes(sites)
            paths.prefetch(echoes, mtus)
            con_s = time.perf_counter() - t0
            concurrent: dict[EchoJob | MtuJob, bool] = {
                job: paths.answered(job) for job in echoes}
            concurrent.update({mtu: paths.path_mtu(mtu).path_mtu >= mtu.hi
                               for echo, mtu in mtus if paths.answered(echo)})
            same = sequential == concurrent
            print(f"path probing, {len(echoes)} echoes + {len(mtus)} path MTUs on "
                  f"{len(lab.hosts)} hosts: one pair at a time {seq_s:.1f} s, concurrent "
                  f"{con_s:.1f} s, same verdicts: {'yes' if same else 'NO'}")
            print(f"ratio={seq_s / con_s:.1f}")
        finally:
            sites.close()
    finally:
        lifecycle.down(lab.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[3, 8, 16, 32])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the largest size")
    parser.add_argument("--keep-dir", type=Path, help="keep labs and reports here")
    parser.add_argument("--ratio-hosts", type=int, default=8,
                        help="lab size for the sequential-vs-concurrent probing ratio (one pair "
                             "at a time takes minutes beyond that)")
    args = parser.parse_args()
    work = args.keep_dir or Path(tempfile.mkdtemp(prefix="lh-scale-"))
    largest = max(args.sizes)
    print(f"{'hosts':>5} {'run':>3} {'wall s':>7} {'tests':>6} {'failed':>6} {'errors':>6} "
          f"{'odd skips':>9} {'sim up s':>8} {'kernel s':>8} {'peak PSS MB':>11} {'cpu s':>5}")
    for n in args.sizes:
        lab_path, inv_path = make_lab(n, work / f"n{n}")
        for i in range(args.repeat if n == largest else 1):
            cpu = cpu_loop_s()
            r = run_once(lab_path, inv_path, work / f"n{n}" / f"report{i + 1}")
            print(f"{n:>5} {i + 1:>3} {r['wall_s']:>7.1f} {r['total']:>6} {r['failed']:>6} "
                  f"{r['errors']:>6} {len(r['odd_skips']):>9} {_build_s(r):>8} {r['kernel']:>8} "
                  f"{r['peak_pss_mb']:>11.0f} {cpu:>5.2f}", flush=True)
            for line in r["failures"] + [s["test"] + ": " + s["reason"]
                                         for s in r["odd_skips"][:5]]:
                print(f"      {line}")
    probing_ratio(*make_lab(args.ratio_hosts, work / f"ratio{args.ratio_hosts}"))
    if args.keep_dir is None:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
