"""Build, configure and run `lh-vcsim`, the simulated vCenter.

The binary is built from the Go sources next to this file into `.build/lh-vcsim-<hash>`, the
hash covering go.mod, go.sum and every .go file, so a changed source gets a new binary and an
unchanged one is never rebuilt; `govc/` builds govc from the same pinned govmomi the same way
(`.build/govc-<hash>`), for the tests that drive lh-vcsim's esxcli with it. The simulator
writes a one-line JSON ready file once it serves; `VcsimProcess.start` waits for it and `stop`
ends the process by its PID.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from harness.drivers.vsphere.connection import VsphereConnection
from harness.lab.catalog import ADAPTERS, SERVER_PLATFORMS, esxi_drivers
from harness.lab.inventory import Secret
from harness.lab.model import Lab
from harness.lab.views import uplink_carriage
from harness.sim import readyfile
from harness.sim.errors import SimError
from harness.sim.ilo.spec import DEFAULT_ADAPTER_FIRMWARE, server_serial, server_uuid
from harness.sim.vcenter.spec import (
    HostSpec,
    NicSpec,
    SystemSpec,
    UplinkSpec,
    VcenterSpec,
    VcsimSpec,
)

GO_DIR = Path(__file__).resolve().parent
BUILD_DIR = GO_DIR / ".build"
BINARY_PREFIX = "lh-vcsim-"
GOVC_PREFIX = "govc-"


class VcsimError(SimError):
    """The simulated vCenter could not be built, configured or started."""

    def __init__(self, what: str, detail: str = "") -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what}\n{detail}" if detail else what)


class VcsimBuildError(VcsimError):
    """`go build` is missing or failed; `detail` holds its output."""


class VcsimSpecError(VcsimError):
    """The lab cannot be turned into a simulator spec."""


class VcsimStartError(VcsimError):
    """The simulator exited or did not become ready; `detail` holds the tail of its log."""


def source_hash(go_dir: Path = GO_DIR, package: str = ".") -> str:
    """A hash of everything `go build` reads for one package of this folder's module: the
    module files and the package's Go sources."""
    digest = hashlib.sha256()
    files = [go_dir / "go.mod", go_dir / "go.sum", *sorted((go_dir / package).glob("*.go"))]
    for path in files:
        digest.update(str(path.relative_to(go_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_binary(go: str | None = None, build_dir: Path = BUILD_DIR) -> Path:
    """Build `lh-vcsim` unless a binary of the same sources exists; return its path.

    Raises:
        VcsimBuildError: no Go toolchain, or the build failed (with the compiler's output).
    """
    return _build(".", BINARY_PREFIX, go, build_dir)


def build_govc(go: str | None = None, build_dir: Path = BUILD_DIR) -> Path:
    """Build govc (`govc/`: govmomi's CLI with host.esxcli) from the govmomi release go.mod
    pins for lh-vcsim, cached like lh-vcsim; return its path.

    Raises:
        VcsimBuildError: no Go toolchain, or the build failed (with the compiler's output).
    """
    return _build("govc", GOVC_PREFIX, go, build_dir)


def _build(package: str, prefix: str, go: str | None, build_dir: Path) -> Path:
    target = build_dir / f"{prefix}{source_hash(GO_DIR, package)}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    go = go or shutil.which("go")
    if go is None:
        raise VcsimBuildError(f"cannot build {prefix.rstrip('-')}: no `go` on PATH (Go >= 1.25 "
                              "is needed)")
    build_dir.mkdir(parents=True, exist_ok=True)
    # Build to a private name and rename: concurrent builders (xdist workers) never see a
    # half-written binary, and the last rename wins with identical content.
    partial = build_dir / f".{target.name}.{os.getpid()}.partial"
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    result = subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), f"./{package}" if package != "." else "."],
        cwd=GO_DIR, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise VcsimBuildError(f"go build of {prefix.rstrip('-')} failed (exit "
                              f"{result.returncode})", (result.stdout + result.stderr).strip())
    partial.replace(target)
    return target


# When the simulated hosts last booted, one after another five minutes apart (as after a rack's
# power-on): the same at every `sim up`, as a real host's boot time is from one nightly run to
# the next until it reboots.
SIM_BOOTED = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def boot_time(lab: Lab, host: str) -> datetime:
    """When a simulated host booted unless a scenario rebooted it (SIM_BOOTED, then one host
    every five minutes in the lab's order)."""
    return SIM_BOOTED + timedelta(minutes=5 * list(lab.hosts).index(host))


def spec_from_lab(lab: Lab, clock_offsets: Mapping[str, float] | None = None,
                  boot_times: Mapping[str, datetime] | None = None) -> VcsimSpec:
    """The simulator spec of a lab: vCenter identity, datacenter, cluster and hosts.

    Host configuration (switches, vmknics, NTP, options) is deliberately not in it: it is applied
    through the vSphere API afterwards, exactly as on a nested lab.

    Args:
        lab: a validated lab with a `vcenter`.
        clock_offsets: host name -> seconds its clock is off (time-drift scenarios).
        boot_times: host name -> when it booted, for hosts a scenario rebooted.

    Raises:
        VcsimSpecError: the lab has no vCenter, or an offset names an unknown host.
    """
    if lab.vcenter is None:
        raise VcsimSpecError(f"lab {lab.name!r} has no `vcenter`: nothing to simulate")
    offsets = dict(clock_offsets or {})
    unknown = sorted(set(offsets) - set(lab.hosts))
    if unknown:
        raise VcsimSpecError(f"clock offsets for unknown hosts {unknown}; hosts are "
                             f"{sorted(lab.hosts)}")
    vc = lab.vcenter
    carriage = uplink_carriage(lab)
    hosts: list[HostSpec] = []
    for name, host in lab.hosts.items():
        carried = carriage.get(name)
        hosts.append(HostSpec(
            name=name, version=host.version, build=host.build, vmnics=lab.host_vmnics(name),
            boot_time=(boot_times or {}).get(name) or boot_time(lab, name),
            clock_offset_s=float(offsets[name]) if name in offsets else None,
            # VLAN carriage from the cabling; link state is not fed from the data plane (F10/F11
            # faults live there), so the F01 guard judges paths by VLAN only
            uplinks=None if carried is None else {
                vmnic: UplinkSpec(vlans=vlans, link=True) for vmnic, vlans in carried.items()},
            nics=host_nics(lab, name) or None, system=host_system(lab, name)))
    return VcsimSpec(
        vcenter=VcenterSpec(
            name=vc.name, version=vc.version,
            # a lab may leave the build out; vCenter 6.5.0 GA's is as good as any
            build=vc.build or 4602587, datacenter=vc.datacenter, cluster=vc.cluster,
            network_rollback=vc.network_rollback),
        hosts=hosts)


def host_system(lab: Lab, host: str) -> SystemSpec | None:
    """The server a physical host runs on, as SMBIOS tells ESXi: the model's platform, and
    the serial number and UUID its BMC (the iLO emulator) reports. None for a nested host."""
    name = lab.hosts[host].server
    server = lab.servers.get(name) if name is not None else None
    if lab.hosts[host].kind == "nested" or name is None or server is None:
        return None
    platform = SERVER_PLATFORMS[server.model]
    serial = server_serial(name, server)
    return SystemSpec(
        vendor=platform.vendor, model=platform.product, serial=serial,
        uuid=server_uuid(name, serial), cpu_model=platform.cpu_model,
        cpu_packages=platform.cpu_packages, cores_per_package=platform.cores_per_package,
        threads_per_core=platform.threads_per_core, cpu_mhz=platform.cpu_mhz,
        memory_mb=platform.memory_gib * 1024)


def host_nics(lab: Lab, host: str) -> dict[str, NicSpec]:
    """vmnic -> its adapter port as the host's drivers see it, from the lab's server: the
    driver ESXi's release uses for the adapter model, its firmware, speed and personality."""
    h = lab.hosts[host]
    server = lab.servers.get(h.server) if h.server is not None else None
    if server is None:
        return {}
    out: dict[str, NicSpec] = {}
    for aname, adapter in server.adapters.items():
        drivers = esxi_drivers(adapter.model, h.version)
        for number, port in adapter.ports.items():
            if port.vmnic is None:
                continue
            out[port.vmnic] = NicSpec(
                model=adapter.model, adapter=aname, port=number,
                description=drivers.description, driver=drivers.nic,
                driver_version=drivers.nic_version,
                firmware=adapter.firmware or DEFAULT_ADAPTER_FIRMWARE[adapter.model],
                speed_mb=ADAPTERS[adapter.model].speed_gbps * 1000,
                iscsi_driver=drivers.iscsi, fcoe_driver=drivers.fcoe,
                personality=port.personality)
    return out


@dataclass
class VcsimProcess(readyfile.ProcessHandle):
    """A running `lh-vcsim`: where it serves, its PID and the certificate to trust."""

    url: str
    pid: int
    cert_file: Path
    hosts: int
    startup_s: float
    workdir: Path
    log_file: Path
    argv: list[str]
    _proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 443

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this simulator's generated certificate."""
        return ssl.create_default_context(cafile=str(self.cert_file))

    def connect(self, username: str, password: Secret) -> VsphereConnection:
        """A logged-in driver connection that trusts exactly this simulator's certificate: the
        same connection code the suites use against a real vCenter.

        Raises:
            VsphereError: the login failed.
        """
        return VsphereConnection(self.url, username, password,
                                 context=self.ssl_context()).open()

    @classmethod
    def start(cls, spec: VcsimSpec, listen: str, username: str, password: str, *,
              workdir: Path, netns: str | None = None, binary: Path | None = None,
              timeout: float = 60.0) -> VcsimProcess:
        """Start the simulator and wait until it serves.

        Args:
            spec: from `spec_from_lab` (or hand-made for benchmarks).
            listen: ADDR:PORT; port 0 lets the simulator pick a free one.
            netns: run inside this network namespace (`ip netns exec`).
            workdir: gets spec.json, the ready file, the log, the certificate and its key.
            binary: a built lh-vcsim; default: `build_binary()`.
            timeout: seconds to wait for the ready file (1,000 hosts take a few seconds).

        Raises:
            VcsimBuildError, VcsimStartError: with the build output or the log's tail.
        """
        binary = binary or build_binary()
        workdir.mkdir(parents=True, exist_ok=True)
        spec_file = workdir / "spec.json"
        ready_file = workdir / "ready.json"
        log_file = workdir / "vcsim.log"
        spec_file.write_text(spec.to_json(), encoding="utf-8")
        argv = [str(binary), "-listen", listen, "-username", username, "-spec", str(spec_file),
                "-ready", str(ready_file), "-cert-dir", str(workdir)]
        env = {**os.environ, "LH_VCSIM_PASSWORD": password}
        try:
            proc, info = readyfile.start_and_wait(argv, ready_file, log_file, timeout, env=env,
                                                  netns=netns)
        except (readyfile.ExitedEarly, readyfile.ReadyTimeout) as exc:
            raise VcsimStartError(f"lh-vcsim {exc}", readyfile.log_tail(log_file)) from None
        return cls(url=str(info["url"]), pid=proc.pid, cert_file=Path(info["cert_file"]),
                   hosts=int(info["hosts"]), startup_s=float(info["startup_s"]),
                   workdir=workdir, log_file=log_file, argv=list(argv),
                   _proc=proc)
