"""The emulated OPNsense API speaks as OPNsense does: its URL rules, its auth and error bodies,
its JSON shapes per release, built from the router namespace's kernel at request time; and the
driver reads it, with typed errors for what goes wrong."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.drivers.opnsense import (
    OpnsenseAuthError,
    OpnsenseClient,
    OpnsenseConnectionError,
    OpnsenseRequestError,
    read_router,
)
from harness.errors import EndpointUnreachable
from tests.opnsense.conftest import ROUTER, Api, RouterLab, start_api


def raw(api: Api, path: str, *, auth: tuple[str, str] | bool | None = True,
        method: str = "GET", **kw: Any) -> requests.Response:
    """A plain HTTPS request to the emulator (the CA pinned), with the API key unless told."""
    creds = (api.spec.key, api.spec.secret) if auth is True else (auth or None)
    return requests.request(method, api.proc.url + path, auth=creds,
                            verify=str(api.proc.cert_file), timeout=10, **kw)


# -- the URL scheme, auth and error bodies --------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/interfaces/overview/interfacesInfo",
                                  "/api/interfaces/overview/interfaces_info",
                                  "/api/Interfaces/Overview/interfacesinfo"])
def test_segments_match_without_case_or_underscores(api: Api, path: str) -> None:
    reply = raw(api, path)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert {r["device"] for r in reply.json()["rows"]} >= {"underlay_a", "underlay_b", "wan"}


def test_unknown_endpoint_is_404_before_auth(api: Api) -> None:
    for auth in (True, None):
        reply = raw(api, "/api/interfaces/overview/no_such_action", auth=auth)
        assert reply.status_code == 404
        assert reply.json() == {"errorMessage": "Endpoint not found"}
    # an action's required parameter count is part of the route
    assert raw(api, "/api/core/firmware/status/extra").status_code == 404


def test_auth_like_opnsense(api: Api) -> None:
    path = "/api/core/firmware/status"
    anonymous = raw(api, path, auth=None)
    assert anonymous.status_code == 401 and anonymous.content == b""
    assert anonymous.headers["Location"] == f"/?url={path}"
    wrong = raw(api, path, auth=(api.spec.key, "not-the-secret"))
    assert wrong.status_code == 401
    assert wrong.json() == {"status": 401, "message": "Authentication Failed"}
    garbled = requests.get(api.proc.url + path, headers={"Authorization": "Basic !!!"},
                           verify=str(api.proc.cert_file), timeout=10)
    assert garbled.status_code == 401
    assert raw(api, path).json()["product"]["product_version"] == "25.7"


def test_login_page_and_post_reads(api: Api) -> None:
    page = requests.get(api.proc.url + "/", verify=str(api.proc.cert_file), timeout=10)
    assert page.status_code == 200 and "OPNsense" in page.text
    # search grids also take their paging and search phrase as a POSTed JSON body
    reply = raw(api, "/api/interfaces/overview/interfacesInfo", method="POST",
                json={"rowCount": 2, "current": 2, "searchPhrase": "underlay"})
    body = reply.json()
    assert (body["total"], body["rowCount"], body["current"]) == (2, 0, 2)
    first = raw(api, "/api/interfaces/overview/interfacesInfo?rowCount=1&searchPhrase=underlay")
    assert first.json()["total"] == 2 and len(first.json()["rows"]) == 1
    bad = raw(api, "/api/interfaces/overview/interfacesInfo", method="POST", data="{",
              headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid JSON syntax"


# -- shapes, from the kernel ----------------------------------------------------------------------

def test_interface_rows_have_opnsense_shapes(api: Api) -> None:
    rows = {r["device"]: r for r in raw(api, "/api/interfaces/overview/interfacesInfo")
            .json()["rows"]}
    underlay = rows["underlay_b"]
    assert underlay["mtu"] == "1600"  # a string: ifconfig's regex capture
    assert underlay["status"] == "up" and "running" in underlay["flags"]
    assert underlay["identifier"].startswith("opt") and underlay["description"] == "underlay_b"
    assert underlay["ipv4"] == [{"ipaddr": "198.18.60.1/24"}] and underlay["addr4"] == \
        "198.18.60.1/24"
    assert underlay["routes"] == ["198.18.60.0/24"] and underlay["vlan_tag"] is None
    assert rows["wan"]["identifier"] == "wan" and rows["wan"]["description"] == "WAN"
    assert rows["wan"]["gateways"] == ["198.18.100.2"]
    loopback = rows["lo0"]  # unassigned: ifconfig's raw address form, no config
    assert loopback["description"] == "Unassigned Interface" and loopback["identifier"] == ""
    assert loopback["ipv4"][0] == {"ipaddr": "127.0.0.1", "subnetbits": 8, "tunnel": False}
    assert "config" not in loopback and "addr4" not in loopback


def test_export_is_a_detailed_list(api: Api) -> None:
    reply = raw(api, "/api/interfaces/overview/export")
    assert reply.headers["Content-Disposition"] == "attachment; filename=ifconfig.json"
    rows = reply.json()
    assert isinstance(rows, list)
    stats = next(r for r in rows if r["device"] == "wan")["statistics"]
    assert stats["mtu"] == "1500" and int(stats["packets transmitted"]) >= 0
    detail = raw(api, "/api/interfaces/overview/getInterface/underlay_a").json()["message"]
    assert detail["mtu"]["value"] == "1600" and "packets received" in detail
    assert raw(api, "/api/interfaces/overview/getInterface/nope").json() == {"message": "failed"}


def test_routes_are_netstat_rows(api: Api) -> None:
    rows = raw(api, "/api/diagnostics/interface/get_routes").json()
    by_dst = {r["destination"]: r for r in rows}
    connected = by_dst["198.18.50.0/24"]
    assert connected["flags"] == "U" and connected["gateway"].startswith("link#")
    assert connected["netif"] == "underlay_a" and connected["mtu"] == "1600"
    static = by_dst["198.18.200.0/22"]
    assert (static["gateway"], static["flags"], static["netif"]) == ("198.18.100.2", "UGS", "wan")
    assert static["id"] == "198.18.200.0/22,198.18.100.2" and static["intf_description"] == "WAN"
    assert by_dst["198.18.50.1"]["netif"] == "lo0" and "H" in by_dst["198.18.50.1"]["flags"]
    assert all(set(r) >= {"proto", "destination", "gateway", "flags", "nhop#", "mtu", "netif",
                          "expire"} for r in rows)


def test_gateway_status_from_echoes(api: Api) -> None:
    body = raw(api, "/api/routes/gateway/status").json()
    assert body["status"] == "ok"
    (gw,) = body["items"]
    assert (gw["name"], gw["address"], gw["status"], gw["status_translated"]) == (
        "WAN_GW", "198.18.100.2", "none", "Online")
    assert gw["loss"] == "0.0 %" and gw["delay"].endswith(" ms")


def test_tunables_and_source_nat(api: Api) -> None:
    (row,) = [r for r in raw(api, "/api/core/tunables/searchItem").json()["rows"]
              if r["tunable"] == "net.inet.ip.forwarding"]
    assert (row["value"], row["default_value"]) == ("", "1")
    (nat,) = raw(api, "/api/firewall/source_nat/search_rule").json()["rows"]
    assert (nat["interface"], nat["source_net"], nat["target"]) == ("wan", "198.18.200.0/22",
                                                                    "wanip")


def test_firmware_and_system(api: Api) -> None:
    status = raw(api, "/api/core/firmware/status").json()
    assert status["status"] == "none" and status["product"]["product_series"] == "25.7"
    info = raw(api, "/api/diagnostics/system/system_information").json()
    assert info["versions"][0] == "OPNsense 25.7-amd64"
    assert raw(api, "/api/core/system/status").json()["metadata"]["system"]["status"] == "OK"


def test_each_answer_is_read_from_the_kernel_now(api: Api, router_lab: RouterLab) -> None:
    """A change in the namespace shows in the next answer: no cache, no copy of the lab."""
    def mtu() -> str:
        rows = raw(api, "/api/interfaces/overview/interfacesInfo").json()["rows"]
        return str(next(r["mtu"] for r in rows if r["device"] == "underlay_b"))

    with router_lab.broken(["link set underlay_b mtu 1500"], ["link set underlay_b mtu 1600"]):
        assert mtu() == "1500"
    assert mtu() == "1600"


# -- releases -------------------------------------------------------------------------------------

def test_release_shapes(api: Api, tmp_path: Path) -> None:
    """24.7: no addr4, no tunables API, source NAT rows without their interface; 24.1: no
    system information, Phalcon's 400 for an unknown action."""
    older = start_api(api.spec, tmp_path / "247", version="24.7")
    try:
        client = OpnsenseClient(ROUTER, older.url, api.spec.key, api.spec.secret,
                                verify=str(older.cert_file))
        rows = client.get("/api/interfaces/overview/interfacesInfo")["rows"]
        assert all("addr4" not in r for r in rows)
        with pytest.raises(OpnsenseRequestError) as refused:
            client.get("/api/core/tunables/searchItem")
        assert refused.value.status == 404
        facts = read_router(client)
        assert facts.version == "24.7" and facts.forwarding is None and facts.nat is None
        assert next(i for i in facts.interfaces if i.device == "underlay_a").addresses[0] \
            .with_prefixlen == "198.18.50.1/24"
    finally:
        older.stop()
    oldest = start_api(api.spec, tmp_path / "241", version="24.1")
    try:
        reply = requests.get(oldest.url + "/api/diagnostics/system/systemInformation",
                             auth=(api.spec.key, api.spec.secret),
                             verify=str(oldest.cert_file), timeout=10)
        assert reply.status_code == 400
        assert reply.json() == {"message": "action SystemInformationAction not found",
                                "status": 400}
    finally:
        oldest.stop()


# -- driver errors ---------------------------------------------------------------------------------

def test_refused_key_is_an_unreachable_endpoint(api: Api) -> None:
    with pytest.raises(OpnsenseAuthError) as refused:
        api.client(secret="wrong").get("/api/core/firmware/status")
    assert isinstance(refused.value, EndpointUnreachable)
    assert refused.value.status == 401 and refused.value.api_message == "Authentication Failed"
    assert "check the inventory's key and secret" in str(refused.value)


def test_tls_is_verified(api: Api) -> None:
    with pytest.raises(OpnsenseConnectionError, match="TLS certificate verification failed"):
        api.client(verify=True).get("/api/core/firmware/status")


def test_nothing_listening_and_silence_are_bounded(api: Api) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    refused = OpnsenseClient(ROUTER, f"https://127.0.0.1:{port}", "k", "s")
    with pytest.raises(OpnsenseConnectionError, match="unreachable"):
        refused.get("/api/core/firmware/status")
    with socket.socket() as silent:  # accepts the connection, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = OpnsenseClient(ROUTER, f"https://127.0.0.1:{silent.getsockname()[1]}", "k",
                                "s", timeout=(0.5, 0.5))
        start = time.monotonic()
        with pytest.raises(OpnsenseConnectionError):
            client.get("/api/core/firmware/status")
        assert time.monotonic() - start < 3


def test_request_log_counts_reads(api: Api) -> None:
    client = api.client()
    read_router(client)
    paths = [r.path for r in client.log.records]
    assert paths == ["/api/core/firmware/status", "/api/interfaces/overview/interfacesInfo",
                     "/api/diagnostics/interface/getRoutes", "/api/routes/gateway/status",
                     "/api/core/tunables/searchItem", "/api/firewall/source_nat/searchRule"]
    assert all(r.status == 200 for r in client.log.records)


def test_basic_auth_header_is_key_and_secret(api: Api) -> None:
    token = base64.b64encode(f"{api.spec.key}:{api.spec.secret}".encode()).decode()
    reply = requests.get(api.proc.url + "/api/core/firmware/info",
                         headers={"Authorization": f"Basic {token}"},
                         verify=str(api.proc.cert_file), timeout=10)
    assert reply.status_code == 200 and json.loads(reply.text)["product_version"] == "25.7"
