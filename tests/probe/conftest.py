"""Fixtures for the probe tests: one session lab of `lh-tp-*` namespaces and one agent pool.

Everything is torn down in `finally` blocks, even when a build step or a test fails: daemons
and agents are stopped by PID, then namespaces deleted by exact name.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drivers.probe.client import AgentPool
from tests.probe import topology
from tests.probe.netlab import NetLab, fixture_netlab
from tests.probe.topology import Lab


@pytest.fixture(scope="session")
def netlab() -> Iterator[NetLab]:
    with fixture_netlab("lh-tp-", "the probe tests") as lab:
        yield lab


@pytest.fixture(scope="session")
def lab(netlab: NetLab) -> Lab:
    return Lab(netlab, topology.build_mtu(netlab), topology.build_uplinks(netlab),
               topology.build_flood(netlab), topology.build_vmk(netlab),
               topology.build_vxlan(netlab))


@pytest.fixture(scope="session")
def pool(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentPool]:
    socket_dir = tmp_path_factory.mktemp("probe-sockets")
    # started niced, as the sim starts its agents (test_agent checks they serve at ours)
    agents = AgentPool.start(lab.agent_namespaces, socket_dir, [topology.ALLOW_PREFIX],
                             topology.ALLOW_IFACES, timeout=30, start_nice=5)
    try:
        yield agents
    finally:
        agents.close()


@pytest.fixture(scope="session")
def lldpd(lab: Lab) -> Iterator[subprocess.Popen[bytes]]:
    """lldpd in the switch namespace advertising CDPv2 and LLDP every second.

    `-ccccc` forces CDPv2; on its own it silences LLDP, because lldpd sends unforced LLDP only
    to LLDP-speaking neighbours or when it sent nothing else on the port. `-l` forces LLDP too.
    Its files live in a world-readable directory of their own: lldpd's unprivileged child
    (user _lldpd) must reach the control socket, and pytest's tmp dirs are root-only.
    """
    work = Path(tempfile.mkdtemp(prefix="lh-tp-lldpd."))
    work.chmod(0o755)
    sock = str(work / "lldpd.socket")
    config = topology.lldpd_config(work / "lldpd.conf", lab.uplinks)
    log = (work / "lldpd.log").open("wb")
    proc = lab.netlab.spawn(lab.uplinks.switch, [
        "lldpd", "-d", "-l", "-ccccc", "-u", sock, "-O", str(config), "-I", "Gi1-0-1,Gi1-0-2"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        # lldpd sends nothing until lldpcli has applied -O and resumed it, so once the
        # chassis shows the configured name, every frame carries it
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"lldpd exited: {(work / 'lldpd.log').read_text()[-2000:]}")
            shown = lab.netlab.exec(lab.uplinks.switch, "lldpcli", "-u", sock, "show",
                                    "chassis", check=False)
            if lab.uplinks.hostname in shown.stdout:
                break
            if time.monotonic() > deadline:
                pytest.fail("lldpd did not take its configuration within 10 s: "
                            + (work / "lldpd.log").read_text()[-2000:])
            time.sleep(0.05)
        yield proc
    finally:
        lab.netlab.stop(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def tmp_pcap(tmp_path: Path) -> Path:
    return tmp_path / "capture.pcap"
