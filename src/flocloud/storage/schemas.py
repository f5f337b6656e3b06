"""Application JSON-schema checks inside the store's writer (and its reads).

Invariants owned here:
- A value is checked against the schema the ``schemas`` table holds for (application,
  target) when it is checked: no schema, no check.
- One compiled validator per schema text (at most 512 kept); within a run of plain message
  writes the lookup is made once per (application, type), because none of them can change
  a schema (``new_run`` forgets those lookups between runs).
- A mismatch is ``schema-mismatch`` naming the target and where the value breaks it.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

import orjson

from flocloud.protocol.errors import SchemaMismatch

__all__ = ["SchemaChecks", "jsonschema_lib"]


@functools.cache
def jsonschema_lib() -> Any:
    """The ``jsonschema`` module, imported when a schema is first used, not at every
    node's start (~30 ms with what it imports); cached, as the checks run per write."""
    import jsonschema

    return jsonschema


class SchemaChecks:
    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}
        self._run: dict[tuple[str, str], Any] = {}  # per run of plain writes

    def validator(self, db: sqlite3.Connection, application: str, target: str) -> Any:
        row = db.execute(
            "SELECT schema FROM schemas WHERE application=? AND target=?", (application, target)
        ).fetchone()
        if row is None:
            return None
        v = self._validators.get(row[0])
        if v is None:
            v = jsonschema_lib().Draft202012Validator(orjson.loads(row[0]))
            if len(self._validators) > 512:
                self._validators.clear()
            self._validators[row[0]] = v
        return v

    def check(self, db: sqlite3.Connection, application: str, target: str, value: Any) -> None:
        v = self.validator(db, application, target)
        if v is not None:
            _raise_mismatch(v, target, value)

    def check_message(
        self, db: sqlite3.Connection, application: str, type: str, payload: Any
    ) -> None:
        """``check`` for the batched path: the validator looked up once per
        (application, type) in a run of plain writes."""
        k = (application, type)
        if k not in self._run:
            self._run[k] = self.validator(db, application, f"message:{type}")
        v = self._run[k]
        if v is not None:
            _raise_mismatch(v, f"message:{type}", payload)

    def new_run(self) -> None:
        """A write between runs may have changed a schema."""
        self._run.clear()


def _raise_mismatch(v: Any, target: str, value: Any) -> None:
    err = jsonschema_lib().exceptions.best_match(v.iter_errors(value))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        raise SchemaMismatch(
            f"{target} does not match the application's schema at {where}: {err.message}"[:300]
        )
