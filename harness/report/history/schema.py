"""The run history's tables: one row per run, with its test results, findings, causes and the
facts it read. Alembic migrations (`migrations/versions`) create and change them; these models
say what the code reads and writes, and a test keeps the two in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    """One `labharness run`."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lab: Mapped[str] = mapped_column(String(200), index=True)
    inventory: Mapped[str | None] = mapped_column(String(1000))
    backend: Mapped[str] = mapped_column(String(20))
    scenarios: Mapped[list[str]] = mapped_column(JSON)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verdict: Mapped[str] = mapped_column(String(20))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    report_dir: Mapped[str | None] = mapped_column(String(1000))
    # whether summary.json had `causes` (a run before the diagnosis step has none to compare)
    has_causes: Mapped[bool] = mapped_column(default=False)

    results: Mapped[list[ResultRow]] = relationship(cascade="all, delete-orphan",
                                                    passive_deletes=True)
    findings: Mapped[list[FindingRow]] = relationship(cascade="all, delete-orphan",
                                                      passive_deletes=True)
    causes: Mapped[list[CauseRow]] = relationship(cascade="all, delete-orphan",
                                                  passive_deletes=True)
    facts: Mapped[list[FactRow]] = relationship(cascade="all, delete-orphan",
                                                passive_deletes=True)


class ResultRow(Base):
    """One test's outcome."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    test: Mapped[str] = mapped_column(String(1000))
    layer: Mapped[str] = mapped_column(String(50))
    incident: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float)


class FindingRow(Base):
    """One finding of a run (summary.json `findings`)."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str | None] = mapped_column(String(20))  # `f3`, what a cause's `explains` names
    incident: Mapped[str] = mapped_column(String(8))
    check: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class CauseRow(Base):
    """One root cause of a run (summary.json `causes`)."""

    __tablename__ = "causes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    cause_id: Mapped[str] = mapped_column(String(20))  # `C1`
    rank: Mapped[int | None] = mapped_column(Integer)
    incident: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    layer: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(Text)
    explains: Mapped[list[str]] = mapped_column(JSON)
    evidence_chain: Mapped[list[Any]] = mapped_column(JSON)
    touches: Mapped[list[Any]] = mapped_column(JSON)


class FactRow(Base):
    """One fact a run read: layer, subject, key, value (`harness.facts.flat`)."""

    __tablename__ = "facts"
    __table_args__ = (Index("ix_facts_run_layer_subject", "run_id", "layer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    layer: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(300))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
