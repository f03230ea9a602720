"""SessionService: login (201, X-Auth-Token, absolute Location), logout, Basic auth, the wrong
password, the session limit and the idle timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redfish
import requests
from redfish.rest.v1 import InvalidCredentialsError

from harness.sim.ilo import IloEndpoint, IloProcess
from tests.ilo.conftest import GEN10, PASSWORD, USER, last_segments, make_spec, session

SESSIONS = "/redfish/v1/SessionService/Sessions/"


def login(ep: IloEndpoint, user: str = USER, password: str = PASSWORD) -> requests.Response:
    return requests.post(ep.url + SESSIONS, json={"UserName": user, "Password": password},
                         verify=str(ep.cert_file), timeout=10, allow_redirects=False)


def ids(resp: requests.Response) -> list[str]:
    return last_segments([m["MessageId"] for m in
                          resp.json()["error"]["@Message.ExtendedInfo"]])


def test_login_use_and_logout(gen10: IloEndpoint) -> None:
    resp = login(gen10)
    assert resp.status_code == 201
    token, location = resp.headers["X-Auth-Token"], resp.headers["Location"]
    assert location.startswith(gen10.url + SESSIONS)
    assert resp.json()["Oem"]["Hpe"]["MySession"] is True
    auth = {"X-Auth-Token": token}
    system = requests.get(gen10.url + "/redfish/v1/Systems/1/", headers=auth,
                          verify=str(gen10.cert_file), timeout=10)
    assert system.status_code == 200
    coll = requests.get(gen10.url + SESSIONS, headers=auth, verify=str(gen10.cert_file),
                        timeout=10).json()
    assert coll["Oem"]["Hpe"]["Links"]["MySession"]["@odata.id"] + "" in location
    bye = requests.delete(location, headers=auth, verify=str(gen10.cert_file), timeout=10)
    assert bye.status_code == 200 and ids(bye) == ["Success"]
    again = requests.get(gen10.url + "/redfish/v1/Systems/1/", headers=auth,
                         verify=str(gen10.cert_file), timeout=10)
    assert again.status_code == 401 and ids(again) == ["NoValidSession"]


def test_wrong_password_is_unauthorized_login_attempt(gen10: IloEndpoint) -> None:
    resp = login(gen10, password="wrong")
    assert resp.status_code == 401
    assert ids(resp) == ["UnauthorizedLoginAttempt"]
    assert "X-Auth-Token" not in resp.headers
    client = redfish.redfish_client(gen10.url, USER, "wrong", max_retry=0,
                                    cafile=str(gen10.cert_file))
    with pytest.raises(InvalidCredentialsError):
        client.login(auth="session")


def test_basic_auth_reads_sessions_and_resources(gen9: IloEndpoint) -> None:
    with session(gen9, auth="basic") as client:  # validates with GET on the Sessions collection
        assert client.get("/redfish/v1/Systems/1/").status == 200
    bad = requests.get(gen9.url + "/redfish/v1/Systems/1/", auth=(USER, "wrong"),
                       verify=str(gen9.cert_file), timeout=10)
    assert bad.status_code == 401
    assert [m["MessageId"] for m in bad.json()["error"]["@Message.ExtendedInfo"]] == [
        "Base.0.10.NoValidSession"]


def test_session_limit(tmp_path: Path) -> None:
    with IloProcess.start(make_spec((GEN10,), session_limit=2), tmp_path) as proc:
        ep = proc.endpoints[GEN10]
        first, second = login(ep), login(ep)
        assert first.status_code == second.status_code == 201
        third = login(ep)
        assert third.status_code == 503 and ids(third) == ["SessionLimitExceeded"]
        requests.delete(first.headers["Location"], headers={
            "X-Auth-Token": first.headers["X-Auth-Token"]}, verify=str(ep.cert_file), timeout=10)
        assert login(ep).status_code == 201


def test_idle_session_expires(tmp_path: Path) -> None:
    with IloProcess.start(make_spec((GEN10,), session_timeout_s=1), tmp_path) as proc:
        ep = proc.endpoints[GEN10]
        auth = {"X-Auth-Token": login(ep).headers["X-Auth-Token"]}
        url = ep.url + "/redfish/v1/Systems/1/"
        cert = str(ep.cert_file)
        assert requests.get(url, headers=auth, verify=cert, timeout=10).status_code == 200
        time.sleep(1.2)
        assert requests.get(url, headers=auth, verify=cert, timeout=10).status_code == 401


def test_session_timeout_is_writable_on_ilo5_only(ilo: IloProcess) -> None:
    with session(ilo.endpoints[GEN10]) as client:
        reply = client.patch("/redfish/v1/SessionService/", body={"SessionTimeout": 600})
        assert reply.status == 200
        assert client.get("/redfish/v1/SessionService/").dict["SessionTimeout"] == 600
        reply = client.patch("/redfish/v1/SessionService/", body={"SessionTimeout": 5})
        assert reply.status == 400
    with session(ilo.endpoints["srv-esx01"]) as client:
        assert client.patch("/redfish/v1/SessionService/",
                            body={"SessionTimeout": 600}).status == 405
