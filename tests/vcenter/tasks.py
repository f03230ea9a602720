"""Waiting for a vSphere task from the tests' own pyVmomi sessions.

pyVim's `WaitForTask` reads `info.name.info.name` whenever it sees a task still running. vcsim
names its tasks like "CreateVm_Task", which pyVmomi cannot map to a method (a real vCenter
sends the VMODL method name, "vim.Folder.createVm"), so a task that is slow enough to be seen
running fails there with an AttributeError. This waits on `info.state` alone.
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
