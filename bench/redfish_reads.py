"""Benchmark: the server-build read of one Gen10 server, our Redfish walk vs HPE ilorest.

Starts the iLO emulator with the default lab's Gen10 server (srv-esx03) on 127.0.0.1, then reads
the same facts (ComputerSystem, BIOS current and pending, NetworkAdapters with their ports and
network device functions) R times each way: (a) `harness.drivers.redfish` (login, `read_server`,
logout); (b) the `ilorest` CLI from its own virtualenv (`.cache/clients/ilorest-*`, made by
`ci/client-venvs`): login, `list --selector <type> --json` per type, logout, as an engineer
would script it. Requests are counted by the emulator itself (`/lh/requests`), so both clients
are counted the same way. Checks both saw the same personality and LLDP agent per adapter, then
prints counts and times and, as the last line, `ratio=NN.N` (ilorest time / ours).

Usage: .venv/bin/python bench/redfish_reads.py [R]
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness.drivers.redfish import RedfishBmc, read_server
from harness.lab.loader import load_inventory, load_lab
from harness.sim.ilo import IloEndpoint, IloProcess, spec_from_lab

ROOT = Path(__file__).resolve().parent.parent
SERVER = "srv-esx03"
USER, PASSWORD = "Administrator", "lh-sim-ilo"  # the sim inventory's public credentials
ILOREST_TYPES = ("ComputerSystem.", "Bios.", "NetworkAdapter.", "NetworkDeviceFunction.",
                 "NetworkPort.")
BUDGET = 15

Facts = dict[str, tuple[Any, ...]]


def ilorest_binary() -> Path | None:
    """The newest ilorest client venv (7.4 reads iLO 5; 7.3 is kept for iLO 4)."""
    found = sorted((ROOT / ".cache" / "clients").glob("ilorest-*/bin/ilorest"),
                   key=lambda p: [int(x) for x in p.parent.parent.name.split("-")[1].split(".")])
    return found[-1] if found else None


def served(ep: IloEndpoint, reset: bool = False) -> int:
    """Requests the emulator served to this BMC (DELETE resets the counters)."""
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(ep.url + "/lh/requests", method="DELETE" if reset else "GET",
                                 headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, context=ep.ssl_context(), timeout=10) as resp:
        return int(json.loads(resp.read())["total"])


def ours(ep: IloEndpoint) -> tuple[float, int, Facts]:
    served(ep, reset=True)
    start = time.perf_counter()
    bmc = RedfishBmc(SERVER, ep.url, USER, PASSWORD, verify=str(ep.cert_file), retries=0)
    with bmc:
        facts = read_server(bmc)
    elapsed = time.perf_counter() - start
    seen = {str(a.slot): (tuple(a.personality(p.number) for p in a.ports), a.lldp_agent)
            for a in facts.adapters}
    return elapsed, served(ep), seen


def ilorest(ep: IloEndpoint, binary: Path, home: Path) -> tuple[float, int, Facts]:
    env = {**os.environ, "HOME": str(home), "ILOREST_PQC_MODE": "off"}
    base = [str(binary), "--nologo", "--cache-dir", str(home / "cache")]

    def run(*args: str) -> str:
        done = subprocess.run([*base, *args], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300, check=False,
                              cwd=home)  # ilorest writes its logs into the cwd
        if done.returncode != 0:
            raise SystemExit(f"ilorest {' '.join(args[:1])} failed ({done.returncode}): "
                             f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    served(ep, reset=True)
    start = time.perf_counter()
    run("login", ep.url.removeprefix("https://"), "-u", USER, "-p", PASSWORD)
    docs: dict[str, list[dict[str, Any]]] = {}
    for selector in ILOREST_TYPES:
        out = json.loads(run("list", "--selector", selector, "--json"))
        docs[selector] = out if isinstance(out, list) else [out]
    run("logout")
    elapsed = time.perf_counter() - start
    return elapsed, served(ep), _ilorest_facts(docs)


def _ilorest_facts(docs: dict[str, list[dict[str, Any]]]) -> Facts:
    """Personality per port and LLDP agent per adapter from what `ilorest list` shows.

    ilorest fetches both the current and the Settings instance of each resource but lists only
    the Settings (pending) one; with nothing pending the two hold the same values.
    """
    slot = {"EmbeddedLOM": "embedded", "FlexLOM1": "flexlom"}
    personality = {"Ethernet": "Ethernet", "iSCSI": "iSCSI", "FibreChannelOverEthernet": "FCoE"}

    def where(doc: dict[str, Any]) -> list[str]:
        uri = str(doc.get("@odata.id", "")).rstrip("/").removesuffix("/Settings")
        return uri.split("/NetworkAdapters/")[1].split("/")

    funcs: dict[str, dict[int, str]] = {}
    for fn in docs["NetworkDeviceFunction."]:
        parts = where(fn)
        funcs.setdefault(parts[0], {})[int(parts[2])] = personality[str(fn["NetDevFuncType"])]
    out: Facts = {}
    for adapter in docs["NetworkAdapter."]:
        aid = where(adapter)[0]
        controllers = adapter.get("Oem", {}).get("Hpe", {}).get("Controllers", [{}])
        agent = controllers[0].get("EmbeddedLLDPFunctions", {}).get("Enabled")
        out[slot.get(aid, "pcie" + aid.removeprefix("PCIeSlot"))] = (
            tuple(t for _, t in sorted(funcs.get(aid, {}).items())), agent)
    return out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    binary = ilorest_binary()
    if binary is None:
        print("ilorest is not installed: run ./ci/client-venvs to create "
              ".cache/clients/ilorest-<version>/ (HPE ilorest needs its own virtualenv)",
              file=sys.stderr)
        raise SystemExit(2)
    lab = load_lab(ROOT / "labs" / "sim.yaml")
    inventory = load_inventory(ROOT / "inventory" / "sim.yaml", lab).inventory
    spec = spec_from_lab(lab, inventory)
    spec["bmcs"] = [b for b in spec["bmcs"] if b["name"] == SERVER]
    spec["bmcs"][0].update(address="127.0.0.1", port=0)
    with tempfile.TemporaryDirectory(prefix="lh-bench-redfish-") as tmp, \
            IloProcess.start(spec, Path(tmp) / "ilo") as proc:
        ep = proc.endpoints[SERVER]
        mine = [ours(ep) for _ in range(rounds)]
        theirs = []
        for i in range(rounds):
            home = Path(tmp) / f"home{i}"  # a cold ilorest cache each round, like a CI job
            home.mkdir()
            theirs.append(ilorest(ep, binary, home))
    t_ours, n_ours = statistics.median(m[0] for m in mine), max(m[1] for m in mine)
    t_theirs, n_theirs = statistics.median(t[0] for t in theirs), max(t[1] for t in theirs)
    same = mine[0][2] == theirs[0][2]
    print(f"server {SERVER} (iLO 5, 3 adapters, 8 ports), {rounds} rounds, median times")
    print(f"labharness walk : {n_ours:3d} requests, {t_ours * 1000:8.1f} ms "
          f"(budget <= {BUDGET}: {'within' if n_ours <= BUDGET else 'OVER'})")
    print(f"ilorest {binary.parent.parent.name.split('-')[1]:8s}: {n_theirs:3d} requests, "
          f"{t_theirs * 1000:8.1f} ms (login, list --selector x{len(ILOREST_TYPES)}, logout)")
    print(f"same facts (personality per port, LLDP agent per adapter): "
          f"{'yes' if same else 'NO'} {mine[0][2]}")
    if not same:
        print(f"ilorest saw: {theirs[0][2]}")
    print(f"requests ratio={n_theirs / n_ours:.1f}")
    print(f"ratio={t_theirs / t_ours:.1f}")


if __name__ == "__main__":
    main()
