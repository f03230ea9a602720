"""The emulated API against OPNsense's OpenAPI specs (the opnsense-openapi package, its own
venv made by ci/client-venvs), for each release the emulator speaks.

The specs are generated from core's controller sources, so their response schemas are coarse
(object or list; a recordset's four keys; a generic status enum) and they cover only what the
generator understood. What they say is checked; where they are wrong about OPNsense itself
the test pins exactly that error, so a newer spec that fixes it shows up here:
- `interfaces/overview/export` is declared an object; the controller echoes a JSON list;
- `core/firmware/status`'s `status` enum lacks `none`, which the controller answers before any
  update check (always, on a router that does not reach the mirrors);
- `firewall/source_nat/*` is absent (the generator skipped the Firewall controllers), and
  before 25.1 `core/tunables/*` too: nothing to validate against.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ilo.conftest import client_venv
from tests.opnsense.conftest import Api, start_api

CHECKER = Path(__file__).with_name("openapi_check.py")
# (path, method as the spec lists it)
CALLS = [
    ("/api/core/firmware/status", "GET"), ("/api/core/firmware/info", "GET"),
    ("/api/core/system/status", "GET"), ("/api/diagnostics/system/systemInformation", "GET"),
    ("/api/interfaces/overview/interfacesInfo", "GET"), ("/api/interfaces/overview/export", "GET"),
    ("/api/diagnostics/interface/getRoutes", "GET"), ("/api/diagnostics/interface/getArp", "GET"),
    ("/api/diagnostics/interface/searchArp", "POST"),
    ("/api/diagnostics/interface/getInterfaceConfig", "GET"),
    ("/api/diagnostics/interface/getInterfaceNames", "GET"),
    ("/api/routes/gateway/status", "GET"), ("/api/core/tunables/searchItem", "POST"),
    ("/api/firewall/source_nat/searchRule", "POST"),
]
KNOWN_SPEC_ERRORS = {
    "/api/interfaces/overview/export": "is not of type 'object'",
    "/api/core/firmware/status": "'none' is not one of",
}


def answers(url: str, cert: Path, key: str, secret: str, version: str) -> list[dict[str, Any]]:
    out = []
    for path, method in CALLS:
        reply = requests.request(method, url + path, auth=(key, secret), verify=str(cert),
                                 timeout=10)
        if reply.status_code == 404 and version < "25.1" and "tunables" in path:
            continue  # not in this release
        assert reply.status_code == 200, (path, reply.status_code, reply.text)
        out.append({"path": path, "method": method, "body": reply.json()})
    return out


@pytest.mark.parametrize("version", ["24.7", "25.1", "25.7", "26.1"])
def test_answers_match_the_releases_openapi_spec(api: Api, tmp_path: Path, version: str) -> None:
    venv = client_venv("opnsense-openapi-0.5.0")
    proc = start_api(api.spec, tmp_path / "api", version=version)
    try:
        got = answers(proc.url, proc.cert_file, api.spec.key, api.spec.secret, version)
    finally:
        proc.stop()
    request = tmp_path / "answers.json"
    request.write_text(json.dumps({"version": version, "answers": got}), encoding="utf-8")
    run = subprocess.run([str(venv / "bin" / "python"), str(CHECKER), str(request)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["spec"] == f"opnsense-{version}.json"
    results = {r["path"]: r for r in report["results"]}
    for path, want in KNOWN_SPEC_ERRORS.items():
        assert results[path]["result"] == "invalid" and want in results[path]["message"], \
            results[path]
    absent = {p for p, r in results.items() if r["result"] == "absent"}
    assert absent == {"/api/firewall/source_nat/searchRule"}
    checked = {p for p, r in results.items() if r["result"] == "ok"}
    assert all(r["result"] in ("ok", "absent", "no-schema") or p in KNOWN_SPEC_ERRORS
               for p, r in results.items()), results
    # everything else the driver and the clients read validated against a schema
    assert {"/api/interfaces/overview/interfacesInfo", "/api/diagnostics/interface/getRoutes",
            "/api/routes/gateway/status", "/api/core/firmware/info"} <= checked
    if version >= "25.1":
        assert "/api/core/tunables/searchItem" in checked
