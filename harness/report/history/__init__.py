"""The run history: every `labharness run` stored in a database (SQLite by default, any
SQLAlchemy URL), listed by `labharness history` and compared by `labharness diff`."""
