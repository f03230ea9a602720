"""The snapshot: every fact the checks read, in one RetrievePropertiesEx over one ContainerView.

Requests per snapshot: CreateContainerView, RetrievePropertiesEx, DestroyView, plus one
ContinueRetrievePropertiesEx per further page the server (or `page_size`) asks for. Never a
per-host attribute walk: on 1,000 hosts that is thousands of round trips (see VCSIM.md §4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from harness.drivers.vsphere import mapping
from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import VsphereError, VsphereTimeoutError
from harness.drivers.vsphere.mapping import Prop
from harness.drivers.vsphere.vmomi import vim, vmodl
from harness.facts.vsphere import (
    DEFAULT_OPTION_KEYS,
    DvPortGroupFacts,
    DvsFacts,
    HostFacts,
    Snapshot,
    VcenterFacts,
    VmFacts,
)

PC = vmodl.query.PropertyCollector


@dataclass(frozen=True)
class Table:
    """The props of one managed-object type."""

    vim_type: Any
    props: tuple[Prop, ...]


@dataclass(frozen=True)
class Retrieved:
    """One object's mapped fields, and the paths vCenter could not return for it."""

    moref: str
    vim_type: Any
    fields: Mapping[str, Any]
    missing: tuple[str, ...]


@contextmanager
def container_view(conn: VsphereConnection, types: Sequence[Any]) -> Iterator[Any]:
    """A recursive ContainerView of the root folder, destroyed on exit."""
    content = conn.content
    view = conn.retrying("CreateContainerView", lambda: content.viewManager.CreateContainerView(
        content.rootFolder, list(types), True))
    try:
        yield view
    finally:
        try:
            conn.call("DestroyView", view.DestroyView)
        except Exception:
            pass  # a view dies with its session; never mask the real error


def filter_spec(view: Any, tables: Sequence[Table]) -> Any:
    """One FilterSpec: the view's objects, and per type the pathSet its table names."""
    traverse = PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view",
                                skip=False)
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
        propSet=[PC.PropertySpec(type=t.vim_type, pathSet=list(dict.fromkeys(
            p.path for p in t.props))) for t in tables])


def retrieve(conn: VsphereConnection, tables: Sequence[Table],
             page_size: int | None = None) -> tuple[list[Retrieved], int]:
    """Every object of the tables' types, mapped; and how many pages that took."""
    pc = conn.content.propertyCollector
    objects: list[Any] = []
    with container_view(conn, [t.vim_type for t in tables]) as view:
        spec = filter_spec(view, tables)
        options = PC.RetrieveOptions(maxObjects=page_size) if page_size else \
            PC.RetrieveOptions()
        result = conn.retrying("RetrievePropertiesEx",
                               lambda: pc.RetrievePropertiesEx([spec], options))
        pages = 1
        while result is not None:
            objects.extend(result.objects or ())
            token = result.token
            if not token:
                break
            # a token is single use: a retry of Continue would fault, so no retry here
            result = conn.call("ContinueRetrievePropertiesEx",
                               partial(pc.ContinueRetrievePropertiesEx, token))
            pages += 1
    out: list[Retrieved] = []
    for obj in objects:
        table = next((t for t in tables if isinstance(obj.obj, t.vim_type)), None)
        if table is None:
            continue
        missing = tuple(f"{m.path}: {type(m.fault).__name__}" for m in obj.missingSet or ())
        out.append(Retrieved(str(obj.obj._moId), table.vim_type,
                             mapping.apply(table.props, obj.propSet or ()), missing))
    return out, pages


def read_raw(conn: VsphereConnection, props: Mapping[Any, Sequence[str]], *,
             extra: Sequence[Any] = (), view: Any = None,
             step: str = "RetrievePropertiesEx") -> list[tuple[Any, dict[str, Any]]]:
    """Raw property values of every object of `props`' types (and of `extra` objects), in one
    RetrievePropertiesEx plus its continuation pages: for callers that work with managed-object
    references themselves (the provisioner), where `retrieve` maps to typed facts.

    Args:
        props: vim type -> the paths to read of objects of that type.
        extra: objects outside the inventory tree to read as well (an OptionManager).
        view: a ContainerView to traverse; None creates one for this read and destroys it.
    """
    if view is None:
        with container_view(conn, list(props)) as own:
            return read_raw(conn, props, extra=extra, view=own, step=step)
    traverse = PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view",
                                skip=False)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse]),
                   *(PC.ObjectSpec(obj=o) for o in extra)],
        propSet=[PC.PropertySpec(type=t, pathSet=list(paths)) for t, paths in props.items()])
    pc = conn.content.propertyCollector
    result = conn.retrying(step, lambda: pc.RetrievePropertiesEx([spec], PC.RetrieveOptions()))
    out: list[tuple[Any, dict[str, Any]]] = []
    while result is not None:
        out += [(o.obj, {str(p.name): p.val for p in o.propSet or ()})
                for o in result.objects or ()]
        if not result.token:
            break
        result = conn.call(f"{step} (continue)",
                           partial(pc.ContinueRetrievePropertiesEx, result.token))
    return out


def vcenter_facts(content: Any) -> VcenterFacts:
    about = content.about
    return VcenterFacts(full_name=str(about.fullName), version=str(about.version),
                        build=str(about.build), api_version=str(about.apiVersion),
                        instance_uuid=str(about.instanceUuid) if about.instanceUuid else None)


def take_snapshot(conn: VsphereConnection, *,
                  option_keys: Sequence[str] | None = DEFAULT_OPTION_KEYS,
                  service_keys: Sequence[str] | None = mapping.DEFAULT_SERVICES,
                  ruleset_keys: Sequence[str] | None = mapping.DEFAULT_RULESETS,
                  page_size: int | None = None) -> Snapshot:
    """Read hosts, DVSes, DV port groups and VMs in one PropertyCollector call and map them.

    Args:
        option_keys, service_keys, ruleset_keys: which advanced options, services and firewall
            rulesets to read, by key; None reads all of them (large on real ESXi).
        page_size: maxObjects per page; None lets the server decide.
    """
    tables = (
        Table(vim.HostSystem, mapping.host_props(option_keys, service_keys, ruleset_keys)),
        Table(vim.DistributedVirtualSwitch, mapping.DVS_PROPS),
        Table(vim.dvs.DistributedVirtualPortgroup, mapping.DVPG_PROPS),
        Table(vim.VirtualMachine, mapping.VM_PROPS),
    )
    start_requests, t0 = conn.requests, time.perf_counter()
    taken_at = datetime.now(UTC)
    retrieved, pages = retrieve(conn, tables, page_size)
    elapsed = time.perf_counter() - t0
    requests = conn.requests - start_requests

    def of(vim_type: Any) -> list[Retrieved]:
        return [r for r in retrieved if r.vim_type is vim_type]

    hosts: dict[str, HostFacts] = {}
    for r in of(vim.HostSystem):
        h = mapping.build_host(r.moref, r.fields)
        hosts[h.name] = h
    host_names = {h.moref: h.name for h in hosts.values()}
    dvs_by_moref = {r.moref: r for r in of(vim.DistributedVirtualSwitch)}
    dvs: dict[str, DvsFacts] = {}
    for r in dvs_by_moref.values():
        d = mapping.build_dvs(r.fields, host_names)
        dvs[d.name] = d
    dvs_names = {m: r.fields["name"] for m, r in dvs_by_moref.items()}
    uplink_pgs = [pg for r in dvs_by_moref.values() for pg in r.fields.get("uplink_portgroups",
                                                                           ())]
    dvpgs: dict[str, DvPortGroupFacts] = {}
    for r in of(vim.dvs.DistributedVirtualPortgroup):
        pg = mapping.build_dvpg(r.moref, r.fields, dvs_names, uplink_pgs)
        dvpgs[pg.name] = pg
    dvpg_names = {pg.key: pg.name for pg in dvpgs.values()}
    vms: dict[str, VmFacts] = {}
    for r in of(vim.VirtualMachine):
        vm = mapping.build_vm(r.fields, host_names, dvpg_names)
        vms[vm.name] = vm
    missing = {f"{r.fields.get('name', r.moref)}": r.missing for r in retrieved if r.missing}
    return Snapshot(vcenter=vcenter_facts(conn.content), hosts=hosts, dvs=dvs,
                    dv_port_groups=dvpgs, vms=vms, taken_at=taken_at, elapsed_s=elapsed,
                    requests=requests, pages=pages, missing=missing)


def read_objects(conn: VsphereConnection, vim_type: Any, props: tuple[Prop, ...],
                 page_size: int | None = None) -> list[Retrieved]:
    """One type's objects through the same machinery (used by operations to look things up)."""
    retrieved, _ = retrieve(conn, [Table(vim_type, props)], page_size)
    return retrieved


def read_one(conn: VsphereConnection, obj: Any, paths: Sequence[str],
             step: str) -> dict[str, Any]:
    """Raw values of some paths of one object, in one RetrievePropertiesEx."""
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=obj, skip=False)],
                         propSet=[PC.PropertySpec(type=type(obj), pathSet=list(paths))])
    pc = conn.content.propertyCollector
    result = conn.retrying(step, lambda: pc.RetrievePropertiesEx([spec], PC.RetrieveOptions()))
    values: dict[str, Any] = {}
    for o in (result.objects if result is not None else None) or ():
        values.update({str(p.name): p.val for p in o.propSet or ()})
    return values


def wait_all(conn: VsphereConnection, objects: Sequence[Any], paths: Sequence[str],
             done: Callable[[Mapping[str, dict[str, Any]]], bool], timeout: float,
             step: str) -> dict[str, dict[str, Any]]:
    """Block until `done(values)` holds, values being each object's paths by managed-object
    id, using WaitForUpdatesEx with one filter on a private PropertyCollector (so other waiters
    of this session are not disturbed). The objects are of one type.

    Raises:
        VsphereTimeoutError: `done` did not hold within `timeout` seconds.
    """
    pc = conn.call(step, conn.content.propertyCollector.CreatePropertyCollector)
    try:
        spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=o, skip=False) for o in objects],
                             propSet=[PC.PropertySpec(type=type(objects[0]),
                                                      pathSet=list(paths))])
        conn.call(step, lambda: pc.CreateFilter(spec, partialUpdates=False))
        values: dict[str, dict[str, Any]] = {str(o._moId): {} for o in objects}
        version = ""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise VsphereTimeoutError(conn.endpoint, step,
                                          f"not done after {timeout:.0f} s; last seen "
                                          f"{ {k: sorted(v) for k, v in values.items()} }")
            # the server answers within maxWaitSeconds; keep that well inside the read timeout
            wait_s = min(left, conn.request_timeout / 2, 30)
            opts = PC.WaitOptions(maxWaitSeconds=max(1, int(wait_s)))
            update = conn.call(step, partial(pc.WaitForUpdatesEx, version, opts))
            if update is None:
                continue
            version = update.version
            for fs in update.filterSet or ():
                for ou in fs.objectSet or ():
                    for change in ou.changeSet or ():
                        values[str(ou.obj._moId)][str(change.name)] = change.val
            if done(values):
                return values
    finally:
        try:
            conn.call(step, pc.DestroyPropertyCollector)
        except VsphereError:
            pass  # destroyed with the session anyway


def wait_until(conn: VsphereConnection, obj: Any, paths: Sequence[str],
               done: Callable[[dict[str, Any]], bool], timeout: float, step: str) -> dict[str, Any]:
    """Block until `done(values)` holds for one object's paths (see `wait_all`).

    Raises:
        VsphereTimeoutError: `done` did not hold within `timeout` seconds.
    """
    key = str(obj._moId)
    return wait_all(conn, [obj], paths, lambda v: done(v[key]), timeout, step)[key]
