"""Alembic's environment for the run history: `harness.report.history.store` runs it with an
open connection (`config.attributes["connection"]`); `alembic -x url=...` from a shell works
too, for a new revision (`alembic revision --autogenerate`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from harness.report.history.schema import Base


def _run(connection: Connection) -> None:
    # batch mode: SQLite changes a table by copying it, which ALTER cannot do there
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or \
        context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database: alembic -x url=sqlite:///reports/history.sqlite")
    with create_engine(url).connect() as conn:
        _run(conn)
