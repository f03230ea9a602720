"""Waiting for a vSphere task from the tests' own pyVmomi sessions, with a time limit.

pyVim's `WaitForTask` waits without one, and a test must not hang CI. (It also reads
`info.name.info.name` while a task runs: stock vcsim names tasks like "CreateVm", which pyVmomi
cannot resolve to a method, and a slow CreateVM failed there in CI; lh-vcsim now sends the WSDL
name, "CreateVM_Task", as vCenter does: test_vcsim checks it.)
"""

from __future__ import annotations

import time
from typing import Any

from pyVmomi import vim

TIMEOUT_S = 60.0


def wait_for_task(task: Any, timeout: float = TIMEOUT_S) -> Any:
    """The task's result once it succeeded; its fault raised if it failed.

    Raises:
        TimeoutError: it is neither done nor failed after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        info = task.info
        if info.state == vim.TaskInfo.State.success:
            return info.result
        if info.state == vim.TaskInfo.State.error:
            raise info.error
        if time.monotonic() > deadline:
            raise TimeoutError(f"{task} still {info.state} after {timeout:g} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
