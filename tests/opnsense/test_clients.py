"""A real third-party OPNsense client against the emulated API: NAPALM's OPNsense driver
(napalm-opnsense, in its own venv made by ci/client-venvs), run as its users run it, the
`napalm` command line with the router's certificate as the CA bundle.

It reads the snake_case URLs and the bare-list `export` endpoint, so it also proves the
emulator routes and shapes as OPNsense does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.ilo.conftest import client_venv
from tests.opnsense.conftest import Api, RouterLab

NAPALM = "napalm-opnsense-0.5.0"


def napalm(url: str, cert: Path, key: str, secret: str, getter: str) -> Any:
    """`napalm --vendor opnsense ... call GETTER` against `url`; its JSON answer."""
    venv = client_venv(NAPALM)
    host = url.split("://", 1)[1].split(":")[0]
    run = subprocess.run(
        [str(venv / "bin" / "napalm"), "--vendor", "opnsense", "--user", key, "--password",
         secret, "--optional_args", f"base_url='{url}'", host, "call", getter],
        capture_output=True, text=True, timeout=120, check=False,
        # napalm-opnsense turns `verify` into a bool: the CA comes through requests' variable
        env={**os.environ, "REQUESTS_CA_BUNDLE": str(cert)})
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)


def test_napalm_reads_interfaces_and_mtus(api: Api, router_lab: RouterLab) -> None:
    got = napalm(api.proc.url, api.proc.cert_file, api.spec.key, api.spec.secret,
                 "get_interfaces")
    for name, iface in router_lab.lab.routers["opnsense01"].interfaces.items():
        assert got[name]["mtu"] == iface.mtu, name
        assert got[name]["is_up"] is True and got[name]["is_enabled"] is True
    assert got["underlay_b"]["description"] == "underlay_b"
    assert got["wan"]["description"] == "WAN"


def test_napalm_sees_a_lowered_mtu_and_the_addresses(api: Api, router_lab: RouterLab) -> None:
    with router_lab.broken(["link set underlay_b mtu 1500"], ["link set underlay_b mtu 1600"]):
        got = napalm(api.proc.url, api.proc.cert_file, api.spec.key, api.spec.secret,
                     "get_interfaces")
    assert got["underlay_b"]["mtu"] == 1500
    addresses = napalm(api.proc.url, api.proc.cert_file, api.spec.key, api.spec.secret,
                       "get_interfaces_ip")
    assert addresses["underlay_a"]["ipv4"] == {"198.18.50.1": {"prefix_length": 24}}


def test_napalm_facts_and_refused_key(api: Api) -> None:
    facts = napalm(api.proc.url, api.proc.cert_file, api.spec.key, api.spec.secret,
                   "get_facts")
    assert facts["vendor"].lower() == "opnsense" and facts["os_version"].startswith("25.7")
    assert {"underlay_a", "underlay_b", "wan"} <= set(facts["interface_list"])
    venv = client_venv(NAPALM)
    run = subprocess.run(
        [str(venv / "bin" / "napalm"), "--vendor", "opnsense", "--user", api.spec.key,
         "--password", "wrong", "--optional_args", f"base_url='{api.proc.url}'", "127.0.0.1",
         "call", "get_facts"], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "REQUESTS_CA_BUNDLE": str(api.proc.cert_file)})
    assert run.returncode != 0
