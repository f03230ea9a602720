"""SSH driver: paramiko connections that always verify the host key, and testinfra on top.

testinfra's own paramiko backend accepts unknown host keys with a warning; labharness never does
(a lab's router or ESXi host must be the one the inventory names). We connect with
`RejectPolicy` and the inventory's known_hosts, then hand the connection to testinfra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from harness.errors import LabharnessError
from harness.lab.inventory import SecretError, SshEndpoint, resolve_secret


@dataclass
class SshError(LabharnessError):
    """An SSH connection or command failed: which host, what step, why."""

    host: str
    step: str
    reason: str

    def __str__(self) -> str:
        return f"ssh {self.host}: {self.step}: {self.reason}"


def _path(value: str, base_dir: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base_dir / p


def connect(endpoint: SshEndpoint, base_dir: Path, timeout: float = 10.0) -> paramiko.SSHClient:
    """Open an SSH connection as the inventory describes, verifying the host key.

    Raises:
        SshError: unknown or changed host key, authentication failure, unreachable host,
            or an unresolvable secret reference.
    """
    client = paramiko.SSHClient()
    if endpoint.verify_host_key:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        if endpoint.known_hosts:
            known = _path(endpoint.known_hosts, base_dir)
            try:
                client.load_host_keys(str(known))
            except OSError as exc:
                raise SshError(endpoint.host, "known_hosts", f"{known}: {exc.strerror}") from None
        else:
            client.load_system_host_keys()
    else:  # explicitly turned off in the inventory
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    kwargs: dict[str, Any] = {"hostname": endpoint.host, "port": endpoint.port,
                              "username": endpoint.username, "timeout": timeout,
                              "banner_timeout": timeout, "auth_timeout": timeout,
                              "allow_agent": False, "look_for_keys": False}
    try:
        if endpoint.password is not None:
            kwargs["password"] = resolve_secret(endpoint.password, base_dir).reveal()
    except SecretError as exc:
        raise SshError(endpoint.host, "credentials", str(exc)) from None
    if endpoint.key_file:
        kwargs["key_filename"] = str(_path(endpoint.key_file, base_dir))
    try:
        client.connect(**kwargs)
    except paramiko.BadHostKeyException:
        raise SshError(endpoint.host, "host key", "the host key changed since known_hosts "
                       "was written") from None
    except paramiko.SSHException as exc:
        raise SshError(endpoint.host, "connect", str(exc)) from None
    except (TimeoutError, OSError) as exc:
        raise SshError(endpoint.host, "connect", str(exc)) from None
    return client


def testinfra_host(client: paramiko.SSHClient, name: str) -> Any:
    """A testinfra Host running its commands over an already verified paramiko connection."""
    from testinfra.backend.paramiko import ParamikoBackend
    from testinfra.host import Host

    backend = ParamikoBackend(f"paramiko://{name}")
    backend.__dict__["client"] = client  # `client` is a cached_property: reuse our connection
    return Host(backend)
