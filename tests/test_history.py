"""The run history: migrations from an empty database, storing and listing runs, the diff of
two runs, and the `history` and `diff` commands. Against SQLite always; against a real
PostgreSQL server when its binaries are on the machine."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL

from harness.facts.flat import router_facts, wire_facts
from harness.facts.router import RouterFacts, RouterInterfaceFacts
from harness.facts.vsphere import CdpFacts, NetworkHintFacts, PolicyFacts
from harness.pytest_plugin.factlog import FactsLog
from harness.report.history.diff import diff_runs
from harness.report.history.errors import HistoryError, HistoryInputError, RunNotFound
from harness.report.history.schema import Base
from harness.report.history.store import History, resolve_url, shown
from tests.conftest import LabWriter
from tests.design_faults import DESIGN_FAULTS
from tests.test_cli import labharness


def _finding(fid: str, check: str, subject: str, message: str = "m",
             severity: str = "error") -> dict[str, Any]:
    return {"id": fid, "check": check, "subject": subject, "severity": severity,
            "message": message, "cause": "c", "fix": "f", "source": "observed",
            "evidence": {"x": 1}}


HEALTHY: dict[str, Any] = {
    "lab": "sim", "inventory": "inventory/sim.yaml", "backend": "sim", "scenarios": [],
    "started": "2026-12-05T01:00:00+00:00", "finished": "2026-12-05T01:05:00+00:00",
    "verdict": "passed", "exit_code": 0,
    "tests": {"total": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0},
    "findings": [_finding("F10", "adapter-port", "srv-esx01/embedded", "iLO 4 cannot show",
                          "info")],
    "results": [{"test": "suites/a.py::t[esx01]", "layer": "vsphere", "incident": "F05",
                 "subject": "esx01", "outcome": "passed", "reason": None, "duration_s": 0.5},
                {"test": "suites/a.py::t[esx02]", "layer": "vsphere", "incident": "F05",
                 "subject": "esx02", "outcome": "passed", "reason": None, "duration_s": 0.5}],
}
FACTS: dict[str, Any] = {
    "vsphere": {"esx01": {"ntp.servers": ["198.18.0.1"], "service.ntpd.running": True,
                          "vmk0.mtu": 1500},
                "esx02": {"ntp.servers": ["198.18.0.1"], "service.ntpd.running": True,
                          "vmk0.mtu": 1500}},
    "wire": {"esx01/vmnic0": {"cdp.device": "sw1", "cdp.port": "Gi1/0/1"}},
}


def _faulty() -> tuple[dict[str, Any], dict[str, Any]]:
    """The same lab the next night: esx02 lost NTP (two findings, one cause), the info note
    still there with other words."""
    summary = copy.deepcopy(HEALTHY)
    summary.update(started="2026-12-06T01:00:00+00:00", scenarios=["F05"], verdict="failed",
                   exit_code=1)
    summary["findings"] = [
        {**_finding("F10", "adapter-port", "srv-esx01/embedded", "other words", "info"),
         "ref": "f1"},
        {**_finding("F05", "ntp-servers", "esx02", "no NTP servers"), "ref": "f2"},
        {**_finding("F05", "ntp-service", "esx02", "ntpd stopped"), "ref": "f3"}]
    summary["causes"] = [{"id": "C1", "rank": 1, "incident": "F05", "subject": "esx02",
                          "layer": "vsphere", "title": "esx02 has no time source",
                          "explains": ["f2", "f3"], "evidence_chain": [{"layer": "vsphere"}],
                          "touches": ["esx02"]}]
    facts = copy.deepcopy(FACTS)
    facts["vsphere"]["esx02"].update({"ntp.servers": [], "service.ntpd.running": False})
    return summary, facts


@pytest.fixture
def db(tmp_path: Path) -> Iterator[History]:
    history = History.open(resolve_url(str(tmp_path / "reports" / "history.sqlite")))
    yield history
    history.close()


def _schema_differences(url: URL) -> list[Any]:
    """What Alembic's autogenerate would change: the models and the migrations agree when
    nothing."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_migrations_build_the_schema_from_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "new" / "history.sqlite"
    history = History.open(resolve_url(str(path)))
    try:
        assert path.exists()
        assert history.revision() == "0001"
        tables = set(inspect(history.engine).get_table_names())
        assert tables >= {"runs", "results", "findings", "causes", "facts", "alembic_version"}
        assert _schema_differences(history.url) == []
        history.migrate()  # again: nothing to do, nothing lost
        assert history.revision() == "0001"
    finally:
        history.close()


def test_a_database_from_a_newer_labharness_is_a_clear_error(tmp_path: Path) -> None:
    url = resolve_url(str(tmp_path / "h.sqlite"))
    History.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    engine.dispose()
    with pytest.raises(HistoryError, match=r"cannot be migrated.*newer labharness"):
        History.open(url)


def test_store_list_and_load(db: History) -> None:
    first = db.store(HEALTHY, FACTS, "reports/1")
    summary, facts = _faulty()
    second = db.store(summary, facts, "reports/2")
    other = db.store({**HEALTHY, "lab": "rack-a"}, {}, None)
    runs = db.runs()
    assert [r.id for r in runs] == [other, second, first]
    assert [r.id for r in db.runs("sim")] == [second, first]
    assert [r.id for r in db.runs("sim", limit=1)] == [second]
    by_id = {r.id: r for r in runs}
    assert by_id[second].findings == 2  # the info note is not counted
    assert by_id[second].causes == 1
    assert by_id[first].causes is None  # that summary had no `causes`: nothing to compare
    assert by_id[second].counts["passed"] == 2 and by_id[second].scenarios == ("F05",)
    loaded = db.load(second)
    assert loaded.facts == facts
    assert {f.ref for f in loaded.findings} == {"f1", "f2", "f3"}
    assert loaded.causes is not None and loaded.causes[0].explains == ("f2", "f3")
    prev = db.previous(loaded.info)
    assert prev is not None and prev.id == first
    assert db.previous(db.load(first).info) is None
    with pytest.raises(RunNotFound, match=r"no run 99 .*runs 1 to 3"):
        db.load(99)


def test_diff_names_new_fixed_and_still_open_causes_findings_and_changed_facts(
        db: History) -> None:
    summary, facts = _faulty()
    a = db.load(db.store({**HEALTHY, "causes": []}, FACTS, None))
    b = db.load(db.store(summary, facts, None))
    d = diff_runs(a, b)
    assert d.causes is not None
    assert [(c.incident, c.subject) for c in d.causes.new] == [("F05", "esx02")]
    assert not d.causes.fixed and not d.causes.still_open
    assert {f.key for f in d.findings.new} == {("F05", "ntp-servers", "esx02"),
                                               ("F05", "ntp-service", "esx02")}
    # the same note in other words is still the same finding
    assert [f.key for f in d.findings.still_open] == [("F10", "adapter-port",
                                                       "srv-esx01/embedded")]
    assert d.findings.still_open[0].message == "other words"
    assert not d.findings.fixed
    assert [(c.layer, c.subject, c.key, c.change, c.before, c.after) for c in d.facts] == [
        ("vsphere", "esx02", "ntp.servers", "changed", ["198.18.0.1"], []),
        ("vsphere", "esx02", "service.ntpd.running", "changed", True, False)]
    assert not d.unchanged
    back = diff_runs(b, a)  # the next night, fixed
    assert back.causes is not None and [c.subject for c in back.causes.fixed] == ["esx02"]
    assert len(back.findings.fixed) == 2 and not back.findings.new
    json.dumps(d.to_dict())  # the --json form is plain JSON


def test_diff_without_causes_compares_findings_and_skips_layers_read_once(
        db: History) -> None:
    summary, facts = _faulty()
    del summary["causes"]
    facts["redfish"] = {"srv-esx03": {"bios.EmbNicEnable": "Enabled"}}
    facts["wire"]["esx01/vmnic0"]["cdp.port"] = "Gi1/0/9"
    del facts["vsphere"]["esx01"]["vmk0.mtu"]
    facts["vsphere"]["esx01"]["vmk1.mtu"] = 9000
    a = db.load(db.store(HEALTHY, FACTS, None))
    b = db.load(db.store(summary, facts, None))
    d = diff_runs(a, b)
    assert d.causes is None
    assert len(d.findings.new) == 2
    changes = {(c.layer, c.subject, c.key): c.change for c in d.facts}
    assert changes == {("vsphere", "esx01", "vmk0.mtu"): "removed",
                       ("vsphere", "esx01", "vmk1.mtu"): "added",
                       ("vsphere", "esx02", "ntp.servers"): "changed",
                       ("vsphere", "esx02", "service.ntpd.running"): "changed",
                       ("wire", "esx01/vmnic0", "cdp.port"): "changed"}
    assert d.not_compared == (f"redfish: read only in run {b.info.id}",)
    same = diff_runs(a, a)
    assert same.unchanged and not same.facts and len(same.findings.still_open) == 1


def test_facts_log_keeps_the_latest_read_of_each_subject() -> None:
    log = FactsLog()
    log.record("redfish", {"srv-esx03": {"port1.personality": "FCoE"}})
    log.record("redfish", {"srv-esx01": {"port1.personality": "iSCSI"}})
    log.record("redfish", {"srv-esx03": {"port1.personality": "iSCSI"}})  # after the fix
    assert log.to_dict() == {"redfish": {"srv-esx01": {"port1.personality": "iSCSI"},
                                         "srv-esx03": {"port1.personality": "iSCSI"}}}


def test_flat_facts_name_subjects_in_the_labs_words() -> None:
    from ipaddress import IPv4Interface

    hint = NetworkHintFacts("esx01", "vmnic0", CdpFacts("sw1", "Gi1/0/1", holdtime=180), None)
    assert wire_facts([hint]) == {"esx01/vmnic0": {
        "cdp.device": "sw1", "cdp.port": "Gi1/0/1", "cdp.platform": None, "cdp.mtu": None,
        "lldp.chassis": None, "lldp.port": None, "lldp.system": None}}
    router = RouterFacts("edge", "linux", "ssh", (RouterInterfaceFacts(
        "underlay_a", "up", 1500, (IPv4Interface("198.18.50.1/24"),)),), ())
    flat = router_facts(router)["edge"]
    assert flat["underlay_a.mtu"] == 1500
    assert flat["underlay_a.addresses"] == ["198.18.50.1/24"]


def test_vsphere_facts_leave_out_what_moves_without_the_lab_changing() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from harness.facts.flat import vsphere_facts
    from tests.vsphere.test_mapping import _snapshot, _vmk

    snap = _snapshot({"vmk2": _vmk("vmk2")}, PolicyFacts())
    booted = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    snap = replace(snap, hosts={"esx01": replace(snap.hosts["esx01"], boot_time=booted)})
    flat = vsphere_facts(snap)
    host = flat["esx01"]
    assert host["vmk2.port_group"] == "dvpg-iscsi-a"  # a DVS port group by name, not its key
    assert (host["vmk2.mtu"], host["vmk2.ip"]) == (9000, "198.18.30.11/24")
    assert host["boot_time"] == "2026-01-05T06:00:00+00:00"
    assert flat["dvportgroup/dvpg-iscsi-a"]["vlan"] == 30
    text = json.dumps(flat)
    for volatile in ("host-1", "uuid-1", "pg-1", "00:50:56:00:00:42"):  # ids, UUIDs, MACs
        assert volatile not in text


def test_boot_time_maps_to_utc() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from harness.drivers.vsphere import mapping

    prop = next(p for p in mapping.host_props() if p.path == "runtime.bootTime")
    local = datetime(2026, 1, 5, 7, 0, tzinfo=timezone(timedelta(hours=1)))
    assert prop.convert(local) == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    assert prop.convert(None) is None


def test_history_urls() -> None:
    assert resolve_url(None).database == "reports/history.sqlite"
    assert resolve_url("/tmp/x.sqlite").get_backend_name() == "sqlite"
    url = resolve_url("postgresql+psycopg://lh:s3cret@db.example/lh")
    assert "s3cret" not in shown(url) and "db.example" in shown(url)
    with pytest.raises(HistoryInputError, match="not a database URL"):
        resolve_url("postgresql+psycopg://lh@db:notaport/lh")


def test_history_and_diff_commands(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    history = History.open(resolve_url(str(path)))
    first = history.store({**HEALTHY, "causes": []}, FACTS, "reports/1")
    summary, facts = _faulty()
    second = history.store(summary, facts, "reports/2")
    history.close()
    listed = labharness("history", "--history", str(path))
    assert listed.returncode == 0, listed.stderr
    assert "F05" in listed.stdout and "failed" in listed.stdout
    as_json = json.loads(labharness("history", "--history", str(path), "--json").stdout)
    assert [r["id"] for r in as_json] == [second, first]
    # the default: the last two runs of the newest run's lab
    d = labharness("diff", "--history", str(path))
    assert d.returncode == 1, d.stderr
    assert "new cause F05 esx02: esx02 has no time source" in d.stdout
    assert "new finding F05 error esx02 (ntp-servers): no NTP servers" in d.stdout
    assert 'changed vsphere esx02 ntp.servers: ["198.18.0.1"] -> []' in d.stdout
    assert "esx01" not in d.stdout.replace("srv-esx01", "")
    explicit = json.loads(labharness("diff", str(first), str(second), "--history", str(path),
                                     "--json").stdout)
    assert [c["subject"] for c in explicit["causes"]["new"]] == ["esx02"]
    one = json.loads(labharness("diff", str(second), "--history", str(path), "--json").stdout)
    assert one == explicit
    same = labharness("diff", str(first), str(first), "--history", str(path))
    assert same.returncode == 0 and "no change" in same.stdout
    for args, message in ((["7"], "no run 7 in the history"),
                          (["x1"], "run id 'x1' is not a number"),
                          (["1", "2", "3"], "at most two run ids"),
                          ([str(first)], "first run of lab sim")):
        bad = labharness("diff", *args, "--history", str(path))
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert message in bad.stderr, bad.stderr
    missing = labharness("history", "--history", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2 and "no run history at" in missing.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_run_stores_what_it_read_and_a_broken_history_keeps_the_verdict(
        tmp_path: Path, faulty_lab: LabWriter) -> None:
    """A lab file with no inventory: only the design suite runs, nothing is read from a lab,
    so the run stores its findings and no facts."""
    fault = next(f for f in DESIGN_FAULTS if f.name == "F12-vmotion-subnet")
    path = faulty_lab(fault.change)
    result = labharness("run", "--lab", str(path), "--report-dir", str(tmp_path / "r"),
                        cwd=tmp_path)
    assert result.returncode == 1
    assert "history: run 1 stored in reports/history.sqlite" in result.stdout
    assert json.loads((tmp_path / "r" / "facts.json").read_text()) == {}
    history = History.open(resolve_url(str(tmp_path / "reports" / "history.sqlite")))
    stored = history.load(1)
    history.close()
    assert stored.facts == {}
    assert {f.key for f in stored.findings} == fault.expected
    assert stored.info.verdict == "failed" and stored.info.report_dir == str(tmp_path / "r")
    # a history that cannot be written: a note, the same verdict and exit code
    broken = tmp_path / "not-a-db.sqlite"
    broken.write_text("this is not a database\n")
    again = labharness("run", "--lab", str(path), "--report-dir", str(tmp_path / "r2"),
                       "--history", str(broken), cwd=tmp_path)
    assert again.returncode == 1
    assert "history: not stored:" in again.stdout and "the verdict stands" in again.stdout
    assert "FAILED" in again.stdout
    off = labharness("run", "--lab", str(path), "--report-dir", str(tmp_path / "r3"),
                     "--history", "off", cwd=tmp_path)
    assert off.returncode == 1 and "this run is not stored" in off.stdout


# -- a real PostgreSQL server ------------------------------------------------------------------

def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres() -> Iterator[URL]:
    """A PostgreSQL server of this machine's packages, on a temporary data directory and a
    free port on 127.0.0.1, run as the `postgres` user when the tests run as root (the server
    refuses root); stopped afterwards."""
    pytest.importorskip("psycopg", reason="no psycopg driver installed")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binary (Debian: apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root and no runuser to start PostgreSQL as another user")
        as_user = ["runuser", "-u", "postgres", "--"]
    # pytest's own temporary directories are private to root: the server's lives in /tmp
    with tempfile.TemporaryDirectory(prefix="lh-history-pg-") as where:
        data = Path(where) / "data"
        data.mkdir()
        if as_user:
            shutil.chown(where, "postgres")
            shutil.chown(data, "postgres")
        yield from _serve(bindir, data, as_user)


def _serve(bindir: Path, data: Path, as_user: list[str]) -> Iterator[URL]:
    port = _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "lh",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
    log = data.parent / "server.log"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                    "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        url = URL.create("postgresql+psycopg", username="lh", host="127.0.0.1", port=port,
                         database="postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                create_engine(url).connect().close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], check=False, capture_output=True, timeout=120)


def test_postgresql(postgres: URL) -> None:
    history = History.open(postgres)
    try:
        assert history.revision() == "0001"
        assert _schema_differences(postgres) == []
        summary, facts = _faulty()
        a = history.load(history.store({**HEALTHY, "causes": []}, FACTS, None))
        b = history.load(history.store(summary, facts, None))
        assert [r.id for r in history.runs("sim")] == [b.info.id, a.info.id]
        d = diff_runs(a, b)
        assert d.causes is not None and len(d.causes.new) == 1
        assert {(c.subject, c.key) for c in d.facts} == {("esx02", "ntp.servers"),
                                                         ("esx02", "service.ntpd.running")}
    finally:
        history.close()
    listed = labharness("history", "--history", postgres.render_as_string(hide_password=False),
                        "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 2
