"""Connection set-up and vSphere faults end as typed driver errors, never with a credential."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim, vmodl

from harness.drivers.vsphere import (
    PolicyPatch,
    VsphereAuthError,
    VsphereConfigError,
    VsphereConnection,
    VsphereConnectionError,
    VsphereDriver,
    VsphereError,
    VsphereFaultError,
    VsphereHostUnreachableError,
    VsphereInvalidRequestError,
    VsphereNotFoundError,
    VspherePermissionError,
    VsphereTimeoutError,
    VsphereTlsError,
)
from harness.drivers.vsphere.errors import is_transient, translate
from harness.lab.inventory import TlsEndpoint
from harness.sim.vcenter import VcsimProcess
from tests.vsphere.conftest import PASSWORD, endpoint_for, pyvmomi_session

SECRET = "S3cret-Value!"


@pytest.mark.parametrize(("exc", "kind", "transient"), [
    (vim.fault.InvalidLogin(msg="Cannot complete login"), VsphereAuthError, False),
    (vim.fault.NotAuthenticated(), VsphereAuthError, False),
    (vim.fault.NoPermission(msg="no"), VspherePermissionError, False),
    (vmodl.fault.ManagedObjectNotFound(), VsphereNotFoundError, False),
    (vim.fault.NotFound(), VsphereNotFoundError, False),
    (vim.fault.InvalidState(), VsphereInvalidRequestError, False),
    (vmodl.fault.InvalidArgument(invalidProperty="portgrp.vlanId"),
     VsphereInvalidRequestError, False),
    (vim.fault.NetworkDisruptedAndConfigRolledBack(host="esx01"),
     VsphereInvalidRequestError, False),
    (vmodl.fault.HostNotConnected(), VsphereHostUnreachableError, False),
    (vim.fault.ConcurrentAccess(), VsphereFaultError, False),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), VsphereTlsError, False),
    (ConnectionRefusedError(111, "Connection refused"), VsphereConnectionError, True),
    (ConnectionResetError(104, "reset"), VsphereConnectionError, True),
    (http.client.RemoteDisconnected("closed"), VsphereConnectionError, True),
    (http.client.HTTPException("503 Service Unavailable"), VsphereConnectionError, True),
    (http.client.HTTPException("404 Not Found"), VsphereFaultError, False),
    (TimeoutError("timed out"), VsphereTimeoutError, False),
])
def test_translate(exc: BaseException, kind: type[VsphereError], transient: bool) -> None:
    err = translate(exc, "vc:443", "step")
    assert type(err) is kind
    assert is_transient(exc) is transient
    assert str(err).startswith("vCenter vc:443: step: ")
    assert err.fault == type(exc).__name__


def test_translate_redacts_secrets() -> None:
    err = translate(vim.fault.InvalidLogin(msg=f"bad password {SECRET}"), "vc:443", "login",
                    [SECRET])
    assert SECRET not in str(err) and "***" in str(err)
    err = translate(OSError(f"weird {SECRET}"), "vc:443", "x", [SECRET])
    assert SECRET not in str(err)


def _connect_error(ep: TlsEndpoint, tmp_path: Path, **kw: Any) -> VsphereError:
    with pytest.raises(VsphereError) as info:
        VsphereDriver.connect(ep, tmp_path, **kw)
    assert PASSWORD not in str(info.value)
    # no chained pyVmomi exception (with its request) is shown under the driver's error
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return info.value


def test_wrong_password(vcsim: VcsimProcess, tmp_path: Path) -> None:
    err = _connect_error(endpoint_for(vcsim, password="plain:wrong-" + PASSWORD), tmp_path)
    assert isinstance(err, VsphereAuthError)
    assert err.fault == "vim.fault.InvalidLogin" and err.step == "login"


def test_untrusted_certificate_is_refused_and_not_retried(vcsim: VcsimProcess,
                                                         tmp_path: Path) -> None:
    ep = endpoint_for(vcsim, ca_file=None)  # system CAs do not know the simulator's cert
    t0 = time.monotonic()
    err = _connect_error(ep, tmp_path, retry_delay=2.0)
    assert isinstance(err, VsphereTlsError) and "not trusted" in str(err)
    assert time.monotonic() - t0 < 2.0, "a TLS failure must not be retried"


def test_verify_tls_off_connects(vcsim: VcsimProcess, tmp_path: Path) -> None:
    with VsphereDriver.connect(endpoint_for(vcsim, ca_file=None, verify_tls=False),
                               tmp_path) as vc:
        assert vc.snapshot().hosts


def test_session_is_reused_and_logged_out(vcsim: VcsimProcess, tmp_path: Path) -> None:
    vc = VsphereDriver.connect(endpoint_for(vcsim), tmp_path)
    stub = vc.conn.stub
    vc.snapshot()
    vc.clock_offsets()
    assert "Login" not in vc.conn.calls  # one login, before counting started
    content = vim.ServiceInstance("ServiceInstance", stub).RetrieveContent()
    assert content.sessionManager.currentSession.userName == vc.conn.username
    vc.close()
    vc.close()  # twice is harmless
    with pytest.raises(vim.fault.NotAuthenticated):  # the server ended the session
        _ = content.sessionManager.currentSession
    with pytest.raises(VsphereError, match="not connected"):
        vc.snapshot()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_retried_then_reported(tmp_path: Path) -> None:
    port = _free_port()
    ep = TlsEndpoint(url=f"https://127.0.0.1:{port}/sdk", username="u", password="plain:x")
    t0 = time.monotonic()
    err = _connect_error(ep, tmp_path, retries=2, retry_delay=0.1)
    assert isinstance(err, VsphereConnectionError) and not isinstance(err, VsphereTlsError)
    assert "refused" in str(err).lower()
    assert time.monotonic() - t0 >= 0.3  # 0.1 + 0.2 between three attempts


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_connect_timeout_is_bounded(silent_server: int, tmp_path: Path) -> None:
    ep = TlsEndpoint(url=f"https://127.0.0.1:{silent_server}/sdk", username="u",
                     password="plain:x")
    t0 = time.monotonic()
    err = _connect_error(ep, tmp_path, connect_timeout=0.5, retries=0)
    assert isinstance(err, VsphereTimeoutError)
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize(("changes", "words"), [
    ({"password": "env:LH_TEST_UNSET_VCENTER_PASSWORD"}, "LH_TEST_UNSET_VCENTER_PASSWORD"),
    ({"ca_file": "no-such-ca.pem"}, "no-such-ca.pem"),
    ({"url": "http://127.0.0.1/sdk"}, "https://"),
])
def test_bad_inventory_entries(vcsim: VcsimProcess, tmp_path: Path, changes: dict[str, Any],
                               words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LH_TEST_UNSET_VCENTER_PASSWORD", raising=False)
    err = _connect_error(endpoint_for(vcsim, **changes), tmp_path)
    assert isinstance(err, VsphereConfigError) and words in str(err)


def test_secret_from_file_relative_to_inventory(vcsim: VcsimProcess, tmp_path: Path) -> None:
    (tmp_path / "vc.secret").write_text(PASSWORD + "\n", encoding="utf-8")
    with VsphereDriver.connect(endpoint_for(vcsim, password="file:vc.secret"), tmp_path) as vc:
        assert vc.snapshot().hosts


def test_faults_of_calls_are_typed(driver: VsphereDriver, hosts: dict[str, Any]) -> None:
    with pytest.raises(VsphereNotFoundError, match="no port group 'no-such-pg'"):
        driver.fix_port_group_policy("no-such-pg", PolicyPatch(notify_switches=False), host="esx01",
                                     allow_disruptive=True)
    with pytest.raises(VsphereNotFoundError) as info:
        driver.migrate_vmknic("esx01", "vmk42", "Management Network", allow_disruptive=True)
    assert info.value.fault == "vim.fault.NotFound"
    with pytest.raises(VsphereInvalidRequestError) as bad:
        driver.set_ntp("esx01", ["198.18.10.1", ""], allow_disruptive=True)
    assert bad.value.fault == "vmodl.fault.InvalidArgument"
    assert "config.ntpConfig.server" in str(bad.value)
    with pytest.raises(VsphereNotFoundError, match="no host 'esx42'"):
        driver.set_ntp("esx42", ["198.18.10.1"], allow_disruptive=True)


def test_disconnected_host_is_reported_per_host(driver: VsphereDriver,
                                               hosts: dict[str, Any]) -> None:
    task = hosts["esx03"].DisconnectHost_Task()
    while task.info.state not in ("success", "error"):
        time.sleep(0.02)
    hints = driver.network_hints()
    assert sorted(hints.values) == ["esx01", "esx02"]
    err = hints.errors["esx03"]
    assert isinstance(err, VsphereHostUnreachableError)
    assert err.step == "esx03: QueryNetworkHint" and err.fault == "vmodl.fault.HostNotConnected"
    assert driver.snapshot().hosts["esx03"].connection_state == "disconnected"


def test_pyvmomi_session_unaffected(vcsim: VcsimProcess) -> None:
    """The driver does not touch pyVim's global service instance."""
    from pyVim import connect

    si = pyvmomi_session(vcsim)
    try:
        with VsphereConnection.from_inventory(endpoint_for(vcsim), Path(".")) as conn:
            assert conn.content.about.version == "6.5.0"
        assert connect.GetSi() is si
    finally:
        connect.Disconnect(si)
