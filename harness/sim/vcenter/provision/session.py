"""One provisioning run over the vSphere driver's connection.

Every call goes through `VsphereConnection` (its request counting, and its fault translation
with secrets redacted); reads use the driver's PropertyCollector reader over one container view
kept for the whole build (entities created later show up in it); tasks of one kind are awaited
together with the driver's `wait_tasks`. A failure names the lab element being built and the
vSphere call, as a ProvisionError carrying the report of what was done so far.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from harness.drivers.vsphere.collector import read_raw
from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import VsphereError
from harness.drivers.vsphere.operations import wait_tasks
from harness.drivers.vsphere.vmomi import vim
from harness.sim.vcenter.provision.report import ProvisionError, ProvisionReport, StageReport

T = TypeVar("T")
TASK_TIMEOUT_S = 120.0
VIEW_TYPES = [vim.HostSystem, vim.Datacenter, vim.ClusterComputeResource, vim.Datastore,
              vim.DistributedVirtualSwitch, vim.dvs.DistributedVirtualPortgroup, vim.Network,
              vim.VirtualMachine]


def _detail(exc: VsphereError) -> str:
    """`ResourceInUse: the resource is in use` (the fault's own name, then vSphere's words)."""
    return f"{exc.fault.rsplit('.', 1)[-1]}: {exc.reason}" if exc.fault else exc.reason


class Session:
    """Calls, reads and task waits of one build, counted into its report."""

    def __init__(self, conn: VsphereConnection, report: ProvisionReport) -> None:
        self.conn = conn
        self.report = report
        self._first_call = len(conn.calls)
        self._view: Any = None

    @property
    def content(self) -> Any:
        return self.conn.content

    def close(self) -> None:
        """Destroy the container view and settle the call counts."""
        try:
            if self._view is not None:
                self.conn.call("DestroyView", self._view.DestroyView)
        except VsphereError:
            pass  # the view dies with the session; nothing of ours is left on the server
        self._view = None
        self.report.calls = Counter(self.conn.calls[self._first_call:])

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        before = self.conn.requests
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.report.stages.append(StageReport(name, time.perf_counter() - t0,
                                                  self.conn.requests - before))
            self.report.calls = Counter(self.conn.calls[self._first_call:])

    def call(self, element: str, action: str, method: Callable[..., T], *args: Any,
             **kwargs: Any) -> T:
        """One vSphere call that builds `element`: `method(*args, **kwargs)`.

        Raises:
            ProvisionError: naming the element, the call and vSphere's fault.
        """
        try:
            return self.conn.call(f"{element}: {action}", lambda: method(*args, **kwargs))
        except VsphereError as exc:
            raise ProvisionError(element, action, _detail(exc), self.report) from None

    def read(self, props: Mapping[Any, Sequence[str]], extra: Sequence[Any] = ()
             ) -> list[tuple[Any, dict[str, Any]]]:
        """One RetrievePropertiesEx over the build's container view and `extra` objects."""
        if self._view is None:
            content = self.content
            self._view = self.call("vCenter", "CreateContainerView",
                                   content.viewManager.CreateContainerView,
                                   content.rootFolder, VIEW_TYPES, True)
        try:
            return read_raw(self.conn, props, extra=extra, view=self._view)
        except VsphereError as exc:
            raise ProvisionError("vCenter", "RetrievePropertiesEx", _detail(exc),
                                 self.report) from None

    def tasks(self, action: str, started: Sequence[tuple[str, Callable[[], Any]]]) -> list[Any]:
        """Start every task, then wait for all of them at once; their results in order.

        Raises:
            ProvisionError: naming the first element whose task failed (or timed out).
        """
        if not started:
            return []
        tasks = [(element, self.call(element, action, start)) for element, start in started]
        try:
            outcomes = wait_tasks(self.conn, [t for _, t in tasks], TASK_TIMEOUT_S, action)
        except VsphereError as exc:
            raise ProvisionError(", ".join(e for e, _ in tasks), action, _detail(exc),
                                 self.report) from None
        for (element, _), outcome in zip(tasks, outcomes, strict=True):
            if not outcome.succeeded:
                raise ProvisionError(element, action, outcome.fault_text, self.report)
        return [o.result for o in outcomes]
