"""The inventory model: how to reach one realisation of a lab.

A lab says what should be true; an inventory says where it is: vCenter and BMC URLs, router
APIs, SSH endpoints, probe hosts and TLS settings. Credentials are only ever references
(`env:NAME`, `file:PATH`), and their values are wrapped so that they never reach a log, a
report or a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, model_validator

from harness.errors import InputError
from harness.lab.types import ElementName, InterfaceAddress, StrictModel, VmnicName

SecretRef = Annotated[
    str,
    Field(
        pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|plain:.*)$",
        description="env:NAME or file:PATH (plain:VALUE only in sim inventories)",
    ),
]


class Secret:
    """A resolved secret. Its value is only available through `reveal()`."""

    __slots__ = ("_ref", "_value")

    def __init__(self, ref: str, value: str) -> None:
        self._ref = ref
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._ref.split(':', 1)[0]}:***)"

    __str__ = __repr__


class SecretError(InputError):
    """A secret reference cannot be resolved; says which reference and why, never a value."""


def resolve_secret(ref: str, base_dir: Path) -> Secret:
    """Resolve `env:NAME`, `file:PATH` (relative to the inventory file) or `plain:VALUE`.

    Raises:
        SecretError: the variable is unset, or the file is missing or unreadable.
    """
    scheme, _, rest = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(rest)
        if value is None:
            raise SecretError(f"environment variable {rest} is not set (referenced as {ref})")
        return Secret(ref, value)
    if scheme == "file":
        path = Path(rest).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            return Secret(ref, path.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    if scheme == "plain":
        return Secret(ref, rest)
    raise SecretError(f"unknown secret reference scheme {scheme!r}; use env:NAME or file:PATH")


class TlsEndpoint(StrictModel):
    """An HTTPS endpoint with credentials by reference."""

    url: AnyHttpUrl
    username: str
    password: SecretRef
    verify_tls: bool = Field(default=True, description="verify the server certificate")
    ca_file: str | None = Field(default=None, description="CA bundle, relative to this file")


class OpnsenseApi(StrictModel):
    """An OPNsense router's REST API: the web GUI's HTTPS address and an API key.

    OPNsense hands out an API key as a key and a secret (System > Access > Users > API keys,
    downloaded as apikey.txt); requests authenticate with HTTP Basic, the key as user name and
    the secret as password. Both are secrets here, by reference.
    """

    url: AnyHttpUrl = Field(description="https://HOST[:PORT] of the web GUI (the API is under "
                            "/api)")
    key: SecretRef = Field(description="the API key (the `key=` line of apikey.txt)")
    secret: SecretRef = Field(description="the API secret (the `secret=` line of apikey.txt)")
    verify_tls: bool = Field(default=True, description="verify the server certificate")
    ca_file: str | None = Field(default=None, description="CA bundle (or the router's own "
                                "certificate), relative to this file")


class SshEndpoint(StrictModel):
    """An SSH endpoint (router, ESXi shell, Linux probe host)."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    password: SecretRef | None = None
    key_file: str | None = Field(default=None, description="private key, relative to this file")
    known_hosts: str | None = Field(
        default=None, description="known_hosts file; unset: the user's ~/.ssh/known_hosts")
    verify_host_key: bool = True

    @model_validator(mode="after")
    def _has_credential(self) -> SshEndpoint:
        if self.password is None and self.key_file is None:
            raise ValueError("set `password` (a secret reference) or `key_file`")
        return self


class ProbeSite(StrictModel):
    """Where packet probes run for one lab element, reached over SSH (the agent is copied there
    and needs only python3 and scapy).

    For an ESXi host it is the host's probe VM: one NIC on a trunk port group of each virtual
    switch (VLAN 4095 on a standard switch, a VLAN trunk range on a DVS; promiscuous mode,
    forged transmits and MAC changes allowed), one NIC on a port group pinned to each uplink,
    and an address it may use on each lab network (`labharness probes plan` shows them). For a
    VM of the lab it is the VM itself, and its lab NICs by label.
    """

    ssh: SshEndpoint
    python: str = Field(default="python3", description="a Python with scapy on the probe")
    trunks: dict[str, str] = Field(
        default_factory=dict, description="virtual switch (vSwitch or DVS) -> the probe VM's "
        "NIC on its trunk port group")
    uplinks: dict[VmnicName, str] = Field(
        default_factory=dict, description="vmnic -> the probe VM's NIC on the port group pinned "
        "to it")
    addresses: dict[ElementName, InterfaceAddress] = Field(
        default_factory=dict, description="lab network -> an address (ADDRESS/PREFIX) the probe "
        "may use on it; nothing else may own it")
    interfaces: dict[str, str] = Field(
        default_factory=dict, description="for a VM: its NIC (ethernet0) -> guest interface")


Seconds = Annotated[float, Field(gt=0, le=3600)]


class ProtocolTimeouts(StrictModel):
    """How long to wait for one protocol: to connect (TCP, TLS, login) and for each answer."""

    connect: Seconds
    read: Seconds


class Timeouts(StrictModel):
    """Connect and read timeouts per protocol, in seconds. An endpoint that times out once is
    down for the rest of the run: every later test that needs it errors at once, naming it."""

    vsphere: ProtocolTimeouts = Field(
        default=ProtocolTimeouts(connect=10, read=45),
        description="SOAP to vCenter; `read` bounds each request (and property-collector waits "
        "poll at half of it)")
    redfish: ProtocolTimeouts = Field(default=ProtocolTimeouts(connect=10, read=30),
                                      description="HTTPS to each iLO")
    ssh: ProtocolTimeouts = Field(default=ProtocolTimeouts(connect=10, read=30),
                                  description="SSH to routers and hosts")
    opnsense: ProtocolTimeouts = Field(default=ProtocolTimeouts(connect=10, read=30),
                                       description="HTTPS to each OPNsense router's API")
    probe: ProtocolTimeouts = Field(
        default=ProtocolTimeouts(connect=15, read=30),
        description="probe agents: `connect` to start one over SSH, `read` for an answer beyond "
        "the probe's own duration")
    logout: Seconds = Field(default=5, description="for a logout at the end of a run")


class Inventory(StrictModel):
    """How to reach one realisation of a lab."""

    name: ElementName
    lab: str = Field(description="name of the lab this inventory realises")
    backend: Literal["real", "sim"] = "real"
    vcenter: TlsEndpoint | None = None
    bmcs: dict[ElementName, TlsEndpoint] = Field(
        default_factory=dict, description="HPE server name -> its iLO")
    ssh: dict[ElementName, SshEndpoint] = Field(default_factory=dict)
    opnsense: dict[ElementName, OpnsenseApi] = Field(
        default_factory=dict, description="OPNsense router name -> its REST API")
    probes: dict[ElementName, ProbeSite] = Field(
        default_factory=dict, description="ESXi host or VM name -> where its probes run")
    timeouts: Timeouts = Field(default_factory=Timeouts)

    def secret_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every secret reference in the inventory with its data path."""
        refs: list[tuple[tuple[str | int, ...], str]] = []
        if self.vcenter is not None:
            refs.append((("vcenter", "password"), self.vcenter.password))
        for name, bmc in self.bmcs.items():
            refs.append((("bmcs", name, "password"), bmc.password))
        for name, api in self.opnsense.items():
            refs.append((("opnsense", name, "key"), api.key))
            refs.append((("opnsense", name, "secret"), api.secret))
        for name, ssh in self.ssh.items():
            if ssh.password is not None:
                refs.append((("ssh", name, "password"), ssh.password))
        for name, probe in self.probes.items():
            if probe.ssh.password is not None:
                refs.append((("probes", name, "ssh", "password"), probe.ssh.password))
        return refs
