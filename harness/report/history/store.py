"""The run history database: open (migrating it to this labharness's schema), store a run,
list runs, load one back.

SQLite by default (`reports/history.sqlite`, next to the report directories); any SQLAlchemy
URL (`postgresql+psycopg://host/db`) when `--history` or LABHARNESS_HISTORY says so. Every
failure of the database is a `HistoryError` with one clear line; `labharness run` turns it into
a note and keeps its verdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from harness.report.history.errors import HistoryError, HistoryInputError, RunNotFound
from harness.report.history.model import Cause, RunInfo, StoredFinding, StoredRun
from harness.report.history.schema import CauseRow, FactRow, FindingRow, ResultRow, RunRow

DEFAULT_PATH = Path("reports") / "history.sqlite"
ENV = "LABHARNESS_HISTORY"
OFF = "off"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def resolve_url(given: str | None) -> URL:
    """The database a `--history` value (or LABHARNESS_HISTORY, or the default) names: an
    SQLAlchemy URL (`postgresql+psycopg://...`), else a path to an SQLite file.

    Raises:
        HistoryInputError: not a URL SQLAlchemy understands.
    """
    text = (given or "").strip() or str(DEFAULT_PATH)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text)))
    try:
        return make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise HistoryInputError(f"--history {text!r} is not a database URL ({exc}); give a "
                                "path for SQLite or an SQLAlchemy URL such as "
                                "postgresql+psycopg://user@host/db") from None


def shown(url: URL) -> str:
    """The URL as it may be printed: never its password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class History:
    """One open history database, migrated to the newest schema on open."""

    def __init__(self, url: URL, engine: Engine) -> None:
        self.url = url
        self.engine = engine

    @classmethod
    def open(cls, url: URL, *, create: bool = True) -> History:
        """Connect and bring the schema up to date (Alembic, the migrations shipped in this
        package). `create=False` refuses an SQLite file that does not exist (for `history`
        and `diff`, which only read).

        Raises:
            HistoryError: the database cannot be reached, created or migrated.
            HistoryInputError: the URL names a driver that is not installed.
        """
        where = shown(url)
        if url.get_backend_name() == "sqlite" and url.database:
            path = Path(url.database)
            if not path.exists() and not create:
                raise HistoryInputError(f"no run history at {where}: labharness run stores "
                                        "one there (or pass --history / LABHARNESS_HISTORY)")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(f"cannot create {path.parent}: {exc.strerror}") from None
        try:
            engine = create_engine(url, connect_args={"timeout": 30}
                                   if url.get_backend_name() == "sqlite" else {})
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise HistoryInputError(f"history database {where}: no driver for it ({exc}); "
                                    "install it, e.g. pip install 'psycopg[binary]'") from None
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        history = cls(url, engine)
        history.migrate()
        return history

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision this labharness ships."""
        from alembic import command
        from alembic.config import Config
        from alembic.util.exc import CommandError

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except CommandError as exc:  # e.g. a revision from a newer labharness
            raise HistoryError(f"history database {shown(self.url)} cannot be migrated: {exc} "
                               "(was it written by a newer labharness?)") from None
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {shown(self.url)}: {_first_line(exc)}") \
                from None

    def revision(self) -> str | None:
        """The schema revision the database is at."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database {shown(self.url)}: {_first_line(exc)}") \
                from None

    def store(self, summary: Mapping[str, Any], facts: Mapping[str, Any],
              report_dir: str | None) -> int:
        """Store one run (its summary.json and facts.json contents); returns its id."""
        tests = summary.get("tests") or {}
        run = RunRow(
            lab=str(summary.get("lab") or "-"), inventory=summary.get("inventory"),
            backend=str(summary.get("backend") or "-"),
            scenarios=list(summary.get("scenarios") or []),
            started=_when(summary.get("started")) or datetime.now(UTC),
            finished=_when(summary.get("finished")), verdict=str(summary.get("verdict") or "-"),
            exit_code=summary.get("exit_code"), report_dir=report_dir,
            has_causes="causes" in summary,
            **{k: int(tests.get(k, 0)) for k in ("total", "passed", "failed", "errors",
                                                  "skipped")})
        run.results = [ResultRow(test=r["test"], layer=r.get("layer") or "other",
                                 incident=r.get("incident"), subject=r.get("subject"),
                                 outcome=r["outcome"], reason=r.get("reason"),
                                 duration_s=float(r.get("duration_s") or 0.0))
                       for r in summary.get("results") or []]
        run.findings = [FindingRow(ref=f.get("ref"), incident=f["id"], check=f["check"],
                                   subject=f["subject"], severity=f["severity"],
                                   source=f.get("source", "intent"), message=f["message"],
                                   cause=f["cause"], fix=f["fix"],
                                   evidence=dict(f.get("evidence") or {}))
                        for f in summary.get("findings") or []]
        run.causes = [CauseRow(cause_id=str(c.get("id") or f"C{i + 1}"), rank=c.get("rank"),
                               incident=c.get("incident"), subject=str(c.get("subject") or ""),
                               layer=c.get("layer"), title=str(c.get("title") or ""),
                               explains=list(c.get("explains") or []),
                               evidence_chain=list(c.get("evidence_chain") or []),
                               touches=list(c.get("touches") or []))
                      for i, c in enumerate(summary.get("causes") or [])]
        run.facts = [FactRow(layer=layer, subject=subject, key=key, value=value)
                     for layer, subjects in facts.items()
                     for subject, values in subjects.items()
                     for key, value in values.items()]
        with self._session() as session:
            session.add(run)
            session.flush()
            return run.id

    def runs(self, lab: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first, with how many findings and causes each had."""
        findings = (select(FindingRow.run_id, func.count().label("n"))
                    .where(FindingRow.severity != "info").group_by(FindingRow.run_id)
                    .subquery())
        causes = (select(CauseRow.run_id, func.count().label("n")).group_by(CauseRow.run_id)
                  .subquery())
        query = (select(RunRow, findings.c.n, causes.c.n)
                 .outerjoin(findings, findings.c.run_id == RunRow.id)
                 .outerjoin(causes, causes.c.run_id == RunRow.id)
                 .order_by(RunRow.id.desc()))
        if lab is not None:
            query = query.where(RunRow.lab == lab)
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            return [_info(row, n_findings or 0, n_causes or 0)
                    for row, n_findings, n_causes in session.execute(query)]

    def load(self, run_id: int) -> StoredRun:
        """One run with its findings, causes and facts.

        Raises:
            RunNotFound: no run has that id.
        """
        with self._session() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                ids = session.execute(select(func.min(RunRow.id), func.max(RunRow.id))).one()
                raise RunNotFound(run_id, shown(self.url), ids[0], ids[1])
            facts: dict[str, dict[str, dict[str, Any]]] = {}
            for f in row.facts:
                facts.setdefault(f.layer, {}).setdefault(f.subject, {})[f.key] = f.value
            return StoredRun(
                info=_info(row, sum(1 for f in row.findings if f.severity != "info"),
                           len(row.causes)),
                findings=tuple(StoredFinding(f.ref, f.incident, f.check, f.subject,
                                             f.severity, f.message) for f in row.findings),
                causes=(tuple(Cause(c.cause_id, c.rank, c.incident, c.subject, c.layer,
                                    c.title, tuple(c.explains)) for c in row.causes)
                        if row.has_causes else None),
                facts=facts)

    def previous(self, run: RunInfo) -> RunInfo | None:
        """The run of the same lab stored before `run`."""
        with self._session() as session:
            row = session.scalars(select(RunRow).where(RunRow.lab == run.lab,
                                                       RunRow.id < run.id)
                                  .order_by(RunRow.id.desc()).limit(1)).first()
            return None if row is None else _info(row, 0, 0)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _info(row: RunRow, findings: int, causes: int) -> RunInfo:
    started = row.started if row.started.tzinfo else row.started.replace(tzinfo=UTC)
    return RunInfo(id=row.id, lab=row.lab, backend=row.backend,
                   scenarios=tuple(row.scenarios), started=started, verdict=row.verdict,
                   exit_code=row.exit_code,
                   counts={"total": row.total, "passed": row.passed, "failed": row.failed,
                           "errors": row.errors, "skipped": row.skipped},
                   findings=findings, causes=causes if row.has_causes else None,
                   report_dir=row.report_dir)

