"""The running simulated lab described as a real lab: a `backend: real` inventory.

A run with it reaches the sim only the way a real lab is reached: vCenter over SOAP, the iLOs
and an OPNsense router's API over HTTPS (each certificate pinned), a Linux router and every
probe VM and VM over SSH (host keys pinned in known_hosts), secrets by `file:` reference.
It never enters a namespace or reads the sim's state, so it proves the suites work on hardware
we do not have: the verdicts must be the same as with the sim backend.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from harness.lab.model import Lab
from harness.sim.errors import SimError
from harness.sim.state import SimState

ROOT_USER = "root"


def _secret_file(directory: Path, name: str, value: str) -> str:
    """Write a secret the way an operator would keep one: a file only its owner reads."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    return f"file:{path}"


def real_inventory(lab: Lab, state: SimState, run_dir: Path) -> dict[str, Any]:
    """The inventory (as YAML-ready data) that reaches the running sim as a real lab.

    Secrets the sim inventory gave in clear (the simulators' own, public ones) are written to
    files under `run_dir/secrets` and referenced with `file:`; env:/file: references are kept.

    Raises:
        SimError: the sim was brought up without an inventory, or without SSH material.
    """
    if state.ssh is None:
        raise SimError(f"lab {lab.name} is up without SSH material: bring it up with an "
                       "inventory (labharness sim up)")
    secrets = run_dir / "secrets"

    def password(name: str, file_name: str | None = None) -> str:
        access = state.access[name]
        if access.password is not None:
            return _secret_file(secrets, file_name or name, access.password)
        if access.password_ref is None:
            raise SimError(f"the sim recorded no credentials for {name}")
        return access.password_ref

    def https(name: str) -> dict[str, Any]:
        access = state.access[name]
        entry: dict[str, Any] = {"url": access.url, "username": access.username,
                                 "password": password(name), "verify_tls": access.verify_tls}
        if access.ca_file:
            entry["ca_file"] = access.ca_file
        return entry

    def ssh(ip: str, port: int) -> dict[str, Any]:
        assert state.ssh is not None
        entry: dict[str, Any] = {"host": ip, "username": ROOT_USER,
                                 "key_file": state.ssh.key_file,
                                 "known_hosts": state.ssh.known_hosts}
        if port != 22:
            entry["port"] = port
        return entry

    out: dict[str, Any] = {"name": f"{lab.name}-as-real", "lab": lab.name, "backend": "real"}
    if "vcenter" in state.access:
        out["vcenter"] = https("vcenter")
    bmcs = {name: https(name) for name in sorted(state.access) if name in lab.servers}
    if bmcs:
        out["bmcs"] = bmcs
    def api(name: str) -> dict[str, Any]:
        access = state.access[name]
        key = (_secret_file(secrets, f"{name}-key", access.username) if access.username
               else access.username_ref)
        if key is None:
            raise SimError(f"the sim recorded no API key for {name}")
        entry: dict[str, Any] = {"url": access.url, "key": key,
                                 "secret": password(name, f"{name}-secret"),
                                 "verify_tls": access.verify_tls}
        if access.ca_file:
            entry["ca_file"] = access.ca_file
        return entry

    apis = {e.name: api(e.name) for e in state.endpoints
            if e.kind == "opnsense" and e.name in state.access}
    if apis:
        out["opnsense"] = apis
    routers = {e.name: ssh(str(e.ip), e.port) for e in state.endpoints
               if e.kind == "ssh" and e.name in lab.routers}
    if routers:
        out["ssh"] = routers
    endpoints = {e.name: e for e in state.endpoints if e.kind == "ssh"}
    probes: dict[str, Any] = {}
    # the probe VM's interpreter: the sim's probe VMs share this machine's filesystem, so the
    # harness's own Python (which has scapy) stands for python3 with python3-scapy installed
    for p in state.host_probes:
        ep = endpoints[f"probe-{p.host}"]
        probes[p.host] = {
            "ssh": ssh(str(ep.ip), ep.port), "python": sys.executable,
            "trunks": {t.switch: t.probe_iface for t in p.trunks},
            "uplinks": {u.vmnic: u.probe_iface for u in p.pinned},
            "addresses": {net: str(ip) for net, ip in p.addresses}}
    for v in state.vm_access:
        ep = endpoints[v.vm]
        probes[v.vm] = {"ssh": ssh(str(ep.ip), ep.port), "python": sys.executable,
                        "interfaces": dict(v.interfaces)}
    if probes:
        out["probes"] = probes
    return out
