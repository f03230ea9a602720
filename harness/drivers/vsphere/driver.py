"""The vSphere driver: snapshot, batched per-host reads and guarded remediations.

    with VsphereDriver.connect(inventory.vcenter, base_dir) as vc:
        snap = vc.snapshot()                 # <= 3 SOAP requests for the whole vCenter
        offsets = vc.clock_offsets()         # QueryDateTime on every host, a few at a time
        hints = vc.network_hints()           # QueryNetworkHint on every host
        views = vc.host_views()              # esxcli: routes, vmknics, NICs, HBAs per host
        pings = vc.vmkping([PingRequest("esx01", "198.18.60.12", netstack="vxlan", df=True,
                                        size=1572)])
        vc.set_ntp("esx01", ["198.18.10.1"], allow_disruptive=True)

Remediations refuse with DisruptiveOperationRefused unless the driver was made with
allow_disruptive=True or the call passes it, before any request is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from harness.drivers.vsphere import esxcli_map, mapping, operations
from harness.drivers.vsphere.collector import (
    Table,
    read_objects,
    read_one,
    retrieve,
    take_snapshot,
)
from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import (
    DisruptiveOperationRefused,
    VsphereError,
    VsphereNotFoundError,
)
from harness.drivers.vsphere.esxcli import Esxcli, EsxcliError, EsxParam, EsxValue
from harness.drivers.vsphere.esxcli_map import EsxcliResultError
from harness.drivers.vsphere.logs import read_host_logs
from harness.drivers.vsphere.mapping import Prop
from harness.drivers.vsphere.operations import MigrationTarget, NtpState, PolicyPatch
from harness.drivers.vsphere.vmomi import vim
from harness.facts.esxcli import HostView, PingRequest, PingResult
from harness.facts.esxlog import LOG_KEYS, HostLogs
from harness.facts.vsphere import (
    DEFAULT_OPTION_KEYS,
    ROLLBACK_OPTION,
    ClockOffset,
    HostManagers,
    NetworkHintFacts,
    OptionValue,
    PolicyFacts,
    Snapshot,
    VmknicFacts,
)
from harness.lab.inventory import TlsEndpoint

T = TypeVar("T")

WORKERS = 4  # concurrent per-host calls: enough to hide latency, gentle on hostd/vpxd
# vmkpings mostly wait on the wire: every host pings at once (one ping at a time on each)
PING_HOSTS_AT_ONCE = 64
TASK_TIMEOUT = 120.0


@dataclass(frozen=True)
class PerHost(Generic[T]):
    """Results of one call made on many hosts: a value or an error per host."""

    values: dict[str, T] = field(default_factory=dict)
    errors: dict[str, VsphereError] = field(default_factory=dict)
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class PingBatch:
    """vmkpings run on many hosts at once: what each host's vmkping said, or why the request
    failed (a CLI fault such as "Message too long" is the ping's result, not an error)."""

    results: dict[PingRequest, PingResult] = field(default_factory=dict)
    errors: dict[PingRequest, VsphereError] = field(default_factory=dict)
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class _HostRef:
    moref: str
    managers: HostManagers


_HOST_REF_PROPS: tuple[Prop, ...] = tuple(
    p for p in mapping.host_props((), (), ()) if p.field in ("name", "managers"))


class VsphereDriver:
    """Reads and (when allowed) changes one vCenter through one session."""

    def __init__(self, conn: VsphereConnection, *, allow_disruptive: bool = False,
                 task_timeout: float = TASK_TIMEOUT, workers: int = WORKERS) -> None:
        self.conn = conn
        self.allow_disruptive = allow_disruptive
        self.task_timeout = task_timeout
        self.workers = max(1, workers)
        self._hosts: dict[str, _HostRef] | None = None
        self._esxcli: Esxcli | None = None

    @classmethod
    def connect(cls, endpoint: TlsEndpoint, base_dir: Path, *, allow_disruptive: bool = False,
                **conn_kwargs: Any) -> VsphereDriver:
        """Log in as the inventory's `vcenter` entry says (relative paths against `base_dir`).

        Raises:
            VsphereConfigError, VsphereTlsError, VsphereConnectionError, VsphereAuthError.
        """
        conn = VsphereConnection.from_inventory(endpoint, base_dir, **conn_kwargs).open()
        return cls(conn, allow_disruptive=allow_disruptive)

    def close(self) -> None:
        """Log out."""
        self.conn.close()

    def __enter__(self) -> VsphereDriver:
        self.conn.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def requests(self) -> int:
        """SOAP requests this session has sent since login."""
        return self.conn.requests

    # -----------------------------------------------------------------------------------------
    # reads

    def snapshot(self, *, option_keys: Sequence[str] | None = DEFAULT_OPTION_KEYS,
                 service_keys: Sequence[str] | None = mapping.DEFAULT_SERVICES,
                 ruleset_keys: Sequence[str] | None = mapping.DEFAULT_RULESETS,
                 page_size: int | None = None) -> Snapshot:
        """Every host, switch, port group, vmknic, pnic, DVS, service, option and VM fact, in
        one PropertyCollector call (`Snapshot.requests` says how many SOAP requests it took)."""
        snap = take_snapshot(self.conn, option_keys=option_keys, service_keys=service_keys,
                             ruleset_keys=ruleset_keys, page_size=page_size)
        self._hosts = {h.name: _HostRef(h.moref, h.managers) for h in snap.hosts.values()}
        return snap

    def _host_refs(self) -> dict[str, _HostRef]:
        if self._hosts is None:
            found = read_objects(self.conn, vim.HostSystem, _HOST_REF_PROPS)
            self._hosts = {r.fields["name"]: _HostRef(r.moref, HostManagers(
                **r.fields.get("managers", {}))) for r in found}
        return self._hosts

    def _host(self, name: str, step: str) -> _HostRef:
        hosts = self._host_refs()
        if name not in hosts:
            raise VsphereNotFoundError(self.conn.endpoint, step, f"no host {name!r}; vCenter "
                                       f"has {sorted(hosts)}")
        return hosts[name]

    def _per_host(self, hosts: Iterable[str] | None, step: str,
                  fn: Callable[[str, _HostRef], T]) -> PerHost[T]:
        refs = self._host_refs()
        names = sorted(refs) if hosts is None else list(hosts)
        out: PerHost[T] = PerHost()
        todo: list[str] = []
        for name in names:
            if name in refs:
                todo.append(name)
            else:
                out.errors[name] = VsphereNotFoundError(self.conn.endpoint, step,
                                                        f"no host {name!r}")

        def one(name: str) -> tuple[str, T | VsphereError]:
            try:
                return name, fn(name, refs[name])
            except VsphereError as exc:
                return name, exc

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.workers, max(1, len(todo))),
                                thread_name_prefix="lh-vsphere") as pool:
            for name, result in pool.map(one, todo):
                if isinstance(result, VsphereError):
                    out.errors[name] = result
                else:
                    out.values[name] = result
        if self.conn.down is not None:
            raise self.conn.down  # vCenter itself stopped answering: not a per-host error
        return PerHost(out.values, out.errors, time.perf_counter() - t0)

    def clock_offsets(self, hosts: Iterable[str] | None = None) -> PerHost[ClockOffset]:
        """Each host's clock against this machine's, via QueryDateTime (concurrently)."""

        def read(name: str, ref: _HostRef) -> ClockOffset:
            step = f"{name}: QueryDateTime"
            if not ref.managers.date_time_system:
                raise VsphereNotFoundError(self.conn.endpoint, step, "no dateTimeSystem")
            dts = vim.host.DateTimeSystem(ref.managers.date_time_system, self.conn.stub)
            t0 = time.time()
            host_time = self.conn.retrying(step, dts.QueryDateTime)
            t1 = time.time()
            if host_time.tzinfo is None:
                host_time = host_time.replace(tzinfo=UTC)
            offset = host_time.timestamp() - (t0 + t1) / 2
            return ClockOffset(name, offset, (t1 - t0) / 2, host_time)

        return self._per_host(hosts, "QueryDateTime", read)

    def host_logs(self, hosts: Iterable[str], keys: Sequence[str] = LOG_KEYS
                  ) -> PerHost[HostLogs]:
        """The tail of each host's logs (`vmksummary`, `hostd`, `vmkernel`) through vCenter's
        DiagnosticManager (concurrently); a log a host does not offer is in its `missing`."""

        def read(name: str, ref: _HostRef) -> HostLogs:
            return read_host_logs(self.conn, name, ref.moref, keys)

        return self._per_host(hosts, "BrowseDiagnosticLog", read)

    def network_hints(self, hosts: Iterable[str] | None = None,
                      ) -> PerHost[tuple[NetworkHintFacts, ...]]:
        """CDP/LLDP neighbours per pnic of each host, via QueryNetworkHint (concurrently)."""

        def read(name: str, ref: _HostRef) -> tuple[NetworkHintFacts, ...]:
            step = f"{name}: QueryNetworkHint"
            if not ref.managers.network_system:
                raise VsphereNotFoundError(self.conn.endpoint, step, "no networkSystem")
            ns = vim.host.NetworkSystem(ref.managers.network_system, self.conn.stub)
            return mapping.network_hints(name, self.conn.retrying(step, ns.QueryNetworkHint))

        return self._per_host(hosts, "QueryNetworkHint", read)

    # -----------------------------------------------------------------------------------------
    # esxcli (the host's own view, through vCenter)

    @property
    def _cli(self) -> Esxcli:
        if self._esxcli is None:
            self._esxcli = Esxcli(self.conn)
        return self._esxcli

    def esxcli(self, host: str, command: str,
               params: Mapping[str, EsxParam] | None = None) -> EsxValue:
        """Run one esxcli command on a host (`network ip route ipv4 list`, {"netstack":
        "vxlan"}): its result as esxcli returns it (a list of structs, a struct, a value).

        Raises:
            EsxcliError: the host's CLI refused or failed the command.
            VsphereError: no such host, or the request failed.
        """
        ref = self._host(host, f"{host}: esxcli {command}")
        return self._cli.run(host, ref.moref, command, params)

    def host_views(self, hosts: Iterable[str] | None = None, *,
                   nic_details: bool = True) -> PerHost[HostView]:
        """What each host reports through esxcli: vmknics with addresses, the routes of every
        netstack they are on, NICs (with `nic get`'s driver and firmware unless
        nic_details=False), ARP neighbours and storage adapters. Hosts run concurrently; each
        view says how many requests it took."""

        def read(name: str, ref: _HostRef) -> HostView:
            try:
                return self._host_view(name, ref, nic_details)
            except EsxcliResultError as exc:
                raise EsxcliError(self.conn.endpoint, f"{name}: esxcli {exc.command}",
                                  exc.command, exc.messages, None) from None

        return self._per_host(hosts, "esxcli", read)

    def _host_view(self, name: str, ref: _HostRef, nic_details: bool) -> HostView:
        cli = self._cli
        start = cli.requests.get(name, 0)

        def run(command: str, params: Mapping[str, EsxParam] | None = None) -> EsxValue:
            return cli.run(name, ref.moref, command, params)

        vmks = esxcli_map.interfaces(run("network ip interface list"),
                                     run("network ip interface ipv4 get"))
        routes = {stack: esxcli_map.routes(run("network ip route ipv4 list",
                                               {"netstack": stack}))
                  for stack in sorted({v.netstack for v in vmks})}
        listed = run("network nic list")
        details: dict[str, EsxValue] = {}
        if nic_details:
            for row in esxcli_map.as_list(listed):
                nic = row.get("Name") if isinstance(row, dict) else None
                if isinstance(nic, str):
                    details[nic] = run("network nic get", {"nicname": nic})
        return HostView(
            host=name, interfaces=vmks, routes=routes, nics=esxcli_map.nics(listed, details),
            neighbours=esxcli_map.neighbours(run("network ip neighbor list")),
            storage_adapters=esxcli_map.storage_adapters(run("storage core adapter list")),
            requests=cli.requests.get(name, 0) - start)

    def vmkping(self, requests: Sequence[PingRequest]) -> PingBatch:
        """Run vmkpings (`esxcli network diag ping`) on their hosts: the hosts at once, each
        host's pings one after another (as an engineer runs them in one shell; concurrent
        pings on one host would wait on each other inside hostd, beyond any read timeout)."""
        refs = self._host_refs()
        unique = list(dict.fromkeys(requests))

        def one(req: PingRequest) -> PingResult | VsphereError:
            step = f"{req.host}: {req.command()}"
            if req.host not in refs:
                return VsphereNotFoundError(self.conn.endpoint, step, f"no host {req.host!r}")
            params: dict[str, EsxParam] = {
                "host": req.target, "netstack": req.netstack, "interface": req.interface,
                "df": True if req.df else None, "size": req.size, "count": req.count,
                "interval": None if req.interval is None else f"{req.interval:g}"}
            try:
                value = self._cli.run(req.host, refs[req.host].moref, "network diag ping",
                                      params, extra_s=req.duration_s())
            except EsxcliError as exc:
                if exc.fault is not None and exc.fault != "VimEsxCLICLIFault":
                    return exc
                return PingResult(request=req, fault=exc.messages)
            except VsphereError as exc:
                return exc
            try:
                return esxcli_map.ping(req, value)
            except EsxcliResultError as exc:
                return EsxcliError(self.conn.endpoint, step, exc.command, exc.messages, None)

        by_host: dict[str, list[PingRequest]] = {}
        for req in unique:
            by_host.setdefault(req.host, []).append(req)

        def host_run(reqs: list[PingRequest]) -> list[PingResult | VsphereError]:
            return [one(r) for r in reqs]

        t0 = time.perf_counter()
        out = PingBatch()
        with ThreadPoolExecutor(max_workers=min(PING_HOSTS_AT_ONCE, max(1, len(by_host))),
                                thread_name_prefix="lh-vmkping") as pool:
            for reqs, results in zip(by_host.values(), pool.map(host_run, by_host.values()),
                                     strict=True):
                for req, got in zip(reqs, results, strict=True):
                    if isinstance(got, PingResult):
                        out.results[req] = got
                    else:
                        out.errors[req] = got
        return PingBatch(out.results, out.errors, time.perf_counter() - t0)

    def vcenter_settings(self, prefix: str) -> dict[str, OptionValue]:
        """vCenter's own advanced settings under a name prefix (OptionManager.QueryOptions)."""
        step = f"vCenter settings {prefix}"
        manager = self.conn.content.setting
        try:
            values = self.conn.retrying(step, lambda: manager.QueryOptions(prefix))
        except VsphereError as exc:
            # vCenter's answer when nothing has that prefix
            if (exc.fault or "").rsplit(".", 1)[-1] == "InvalidName":
                return {}
            raise
        return {str(v.key): v.value for v in values}

    def network_rollback(self) -> bool | None:
        """config.vpxd.network.rollback (F01); None when vCenter does not report it. vCenter
        keeps settings as strings: "false" is off, anything else (and absence) is on."""
        value = self.vcenter_settings(ROLLBACK_OPTION).get(ROLLBACK_OPTION)
        if value is None:
            return None
        return str(value).strip().lower() != "false"

    # -----------------------------------------------------------------------------------------
    # remediations

    def guard(self, step: str, allow_disruptive: bool | None = None) -> None:
        """Refuse a change unless this driver or the call allows disruptive operations.

        Raises:
            DisruptiveOperationRefused: before anything is sent.
        """
        self._guard(step, allow_disruptive)

    def _guard(self, step: str, allow_disruptive: bool | None) -> None:
        allowed = self.allow_disruptive if allow_disruptive is None else allow_disruptive
        if not allowed:
            raise DisruptiveOperationRefused(
                self.conn.endpoint, step, "this changes the lab; it runs only with "
                "allow_disruptive=True (labharness run --allow-disruptive on a lab that allows "
                "it)")

    def set_ntp(self, host: str, servers: Sequence[str], *,
                allow_disruptive: bool | None = None, timeout: float | None = None) -> NtpState:
        """Set NTP servers, enable the ntpClient rule, ntpd policy on and (re)started; returns
        the state read back from vCenter."""
        step = f"{host}: set NTP"
        self._guard(step, allow_disruptive)
        ref = self._host(host, step)
        return operations.set_ntp(self.conn, host, ref.moref, ref.managers, servers,
                                  timeout or self.task_timeout)

    def fix_port_group_policy(self, port_group: str, patch: PolicyPatch, *,
                              host: str | None = None, allow_disruptive: bool | None = None,
                              timeout: float | None = None) -> PolicyFacts:
        """Set security/teaming fields of a port group: a standard one on `host`, else the DV
        port group of that name. Returns the effective policy vCenter then reports."""
        step = f"fix policy of {port_group}"
        self._guard(step, allow_disruptive)
        timeout = timeout or self.task_timeout
        if host is not None:
            ref = self._host(host, step)
            policy = operations.fix_standard_port_group(
                self.conn, host, ref.moref, ref.managers, port_group, patch, timeout)
            if policy is not None:
                return policy
        moref = self._dv_port_group(port_group, step)[0]
        return operations.fix_dv_port_group(self.conn, moref, port_group, patch, timeout)

    def _dv_port_group(self, name: str, step: str) -> tuple[str, str, str]:
        """(moref, key, switch uuid) of a DV port group, by name, in one request."""
        found, _ = retrieve(self.conn, [
            Table(vim.dvs.DistributedVirtualPortgroup, (
                Prop("name", "name", str), Prop("key", "key", str),
                Prop("config.distributedVirtualSwitch", "dvs", lambda v: v._moId))),
            Table(vim.DistributedVirtualSwitch, (Prop("uuid", "uuid", str),))])
        uuids = {r.moref: r.fields.get("uuid", "") for r in found
                 if r.vim_type is vim.DistributedVirtualSwitch}
        for r in found:
            if r.vim_type is not vim.DistributedVirtualSwitch and r.fields.get("name") == name:
                uuid = uuids.get(str(r.fields.get("dvs")), "")
                return r.moref, str(r.fields.get("key", r.moref)), uuid
        raise VsphereNotFoundError(self.conn.endpoint, step, f"no port group {name!r} on the "
                                   "host and no DV port group of that name")

    def migrate_vmknic(self, host: str, device: str, port_group: str, *,
                       allow_disruptive: bool | None = None,
                       timeout: float | None = None) -> VmknicFacts:
        """Move a vmknic to a standard port group of the host or to a DV port group, and wait
        until vCenter shows it there with the host still connected."""
        step = f"{host}: migrate {device} to {port_group}"
        self._guard(step, allow_disruptive)
        ref = self._host(host, step)
        host_obj = vim.HostSystem(ref.moref, self.conn.stub)
        pgs = read_one(self.conn, host_obj, ["config.network.portgroup"], step)
        standard = {p.spec.name for p in pgs.get("config.network.portgroup") or ()}
        if port_group in standard:
            target = MigrationTarget(port_group)
        else:
            _, key, uuid = self._dv_port_group(port_group, step)
            target = MigrationTarget(port_group, switch_uuid=uuid, portgroup_key=key)
        return operations.migrate_vmknic(self.conn, host, ref.moref, ref.managers, device,
                                         target, timeout or self.task_timeout)
