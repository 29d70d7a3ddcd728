"""The whole store as one JSON document (snapshot), and putting it back (import, reset).

A snapshot holds every row of every data table (see :data:`EXCLUDED`). Sealed values (secret
access keys, security tokens) stay sealed under the master key and password hashes stay hashes,
so the snapshot names the fingerprint of the master key it needs; an import under another master
key is refused. Import and reset replace the store in ONE write transaction, which also moves
the store generation on: every node drops its caches on its next request.

Token signing keys are the server's own, not data: a snapshot leaves them out, and import and
reset keep them, so the server goes on issuing and validating tokens. Revocations are kept too
(the imported ones are added), so no token revoked before an import becomes valid again. The
audit trail is the deployment's record of what was done to the store, not part of it: a snapshot
leaves it out, and import and reset neither erase nor rewrite it (they are recorded in it, as
every mutating call is).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, Text, delete, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..errors import ApiError
from ..runtime import Runtime
from ..store import tables as t
from ..store.vault import VaultError, load_master_key

FORMAT = "devuc-snapshot"
VERSION = 1
# Not data of the service: the signing keys of this deployment, its cache counter, its audit trail.
EXCLUDED = frozenset({"token_keys", "store_generation", "audit_events"})
# Snapshots of earlier versions held the audit trail; an import passes over it.
PASSED_OVER = frozenset({"audit_events"})
DATA_TABLES = [table for table in t.metadata.sorted_tables if table.name not in EXCLUDED]
KEPT_ON_REPLACE = "token_revocations"  # union of the current rows and the imported ones
SEALED_COLUMNS = (("access_keys", "secret_enc"), ("access_keys", "security_token_enc"))
# The file `devuc serve` writes once it has applied its seed: what "reset to seed" restores.
START_SNAPSHOT_FILE = "seed-snapshot.json"
BAD = "APIGW.0201"  # 400 "Request error." with the reason


def master_key_fingerprint(rt: Runtime) -> str:
    """A short, one-way name of the master key (which key, never the key)."""
    key = load_master_key(rt.settings.secret_key, rt.settings.data_dir)
    return "sha256:" + hashlib.sha256(b"devuc master key fingerprint\x00" + key).hexdigest()[:32]


async def _revision(conn) -> str | None:
    try:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:
        return None


async def export_snapshot(rt: Runtime) -> dict:
    """Every data table, read in one transaction (a consistent picture)."""
    tables: dict[str, Any] = {}
    async with rt.store.read() as conn:
        revision = await _revision(conn)
        for table in DATA_TABLES:
            columns = [c.name for c in table.columns]
            order = [c for c in table.primary_key.columns]
            rows = (await conn.execute(select(table).order_by(*order))).all()
            tables[str(table.name)] = {"columns": columns, "rows": [list(r) for r in rows]}
    return {
        "format": FORMAT,
        "version": VERSION,
        "schema_revision": revision,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "master_key_fingerprint": master_key_fingerprint(rt),
        "tables": tables,
    }


@dataclass(frozen=True)
class Parsed:
    rows: dict[str, list[dict]]


def _bad(message: str) -> ApiError:
    return ApiError(BAD, message, status=400)


def _check_value(table, column, value, where: str) -> Any:
    if value is None:
        if not column.nullable:
            raise _bad(f"Invalid snapshot: {where} must not be null.")
        return None
    kind = column.type
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise _bad(f"Invalid snapshot: {where} must be true or false.")
    elif isinstance(kind, (Integer, BigInteger)):
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
            raise _bad(f"Invalid snapshot: {where} must be a whole number.")
    elif isinstance(kind, (String, Text)):
        if not isinstance(value, str):
            raise _bad(f"Invalid snapshot: {where} must be text.")
        if getattr(kind, "length", None) and len(value) > kind.length:
            raise _bad(f"Invalid snapshot: {where} is longer than {kind.length} characters.")
        if "\x00" in value:
            raise _bad(f"Invalid snapshot: {where} contains a NUL character.")
    return value


def parse_snapshot(rt: Runtime, data: Any, revision: str | None) -> Parsed:
    """Check a snapshot document completely before anything is written."""
    if not isinstance(data, dict):
        raise _bad("Invalid snapshot: the body must be a JSON object.")
    if data.get("format") != FORMAT:
        raise _bad(f"Invalid snapshot: 'format' must be \"{FORMAT}\".")
    if data.get("version") != VERSION:
        raise _bad(f"Invalid snapshot: 'version' {data.get('version')!r} is not supported (this server reads {VERSION}).")
    if data.get("schema_revision") != revision:
        raise _bad(
            f"Invalid snapshot: it was taken at schema revision {data.get('schema_revision')!r}, "
            f"this store is at {revision!r}."
        )
    fingerprint = master_key_fingerprint(rt)
    if data.get("master_key_fingerprint") != fingerprint:
        raise _bad(
            "The snapshot is sealed under another master key (its 'master_key_fingerprint' is "
            f"{data.get('master_key_fingerprint')!r}, this server's is {fingerprint!r}); start the "
            "server with the master key it was taken under (DEVUC_SECRET_KEY or master.key)."
        )
    tables = data.get("tables")
    if not isinstance(tables, dict):
        raise _bad("Invalid snapshot: 'tables' must be an object.")
    known = {table.name: table for table in DATA_TABLES}
    unknown = set(tables) - set(known) - PASSED_OVER
    if unknown:
        raise _bad(f"Invalid snapshot: unknown table {sorted(unknown)[0]!r}.")
    rows: dict[str, list[dict]] = {}
    for name, table in known.items():
        entry = tables.get(name, {"columns": [c.name for c in table.columns], "rows": []})
        if not isinstance(entry, dict) or not isinstance(entry.get("columns"), list) or not isinstance(entry.get("rows"), list):
            raise _bad(f"Invalid snapshot: tables.{name} must have 'columns' and 'rows' lists.")
        columns = entry["columns"]
        if sorted(map(str, columns)) != sorted(c.name for c in table.columns) or len(set(columns)) != len(columns):
            raise _bad(f"Invalid snapshot: tables.{name}.columns must name the table's columns exactly.")
        out = []
        for i, row in enumerate(entry["rows"]):
            if not isinstance(row, list) or len(row) != len(columns):
                raise _bad(f"Invalid snapshot: tables.{name}.rows[{i}] must be a list of {len(columns)} values.")
            out.append({
                col: _check_value(table, table.c[col], value, f"tables.{name}.rows[{i}].{col}")
                for col, value in zip(columns, row)
            })
        rows[name] = out
    _check_sealed(rt, rows)
    return Parsed(rows)


def _check_sealed(rt: Runtime, rows: dict[str, list[dict]]) -> None:
    """The fingerprint says which key; opening one sealed value proves it."""
    for table, column in SEALED_COLUMNS:
        for row in rows.get(table, []):
            if row.get(column):
                try:
                    rt.vault.open(row[column])
                except VaultError:
                    raise _bad(
                        f"The snapshot's sealed secrets ({table}.{column}) cannot be opened with this "
                        "server's master key."
                    ) from None
                return


async def replace_store(rt: Runtime, parsed: Parsed) -> None:
    """Empty every data table and load ``parsed`` into them, in one transaction."""
    try:
        async with rt.store.write() as conn:
            revoked = (await conn.execute(select(t.token_revocations))).all()
            for table in reversed(DATA_TABLES):
                await conn.execute(delete(table))
            for table in DATA_TABLES:
                batch = list(parsed.rows.get(table.name, []))
                if table.name == KEPT_ON_REPLACE:
                    seen = {r["audit_id"] for r in batch}
                    batch += [dict(r._mapping) for r in revoked if r.audit_id not in seen]
                if batch:
                    await conn.execute(insert(table), batch)
            if conn.dialect.name == "postgresql":
                await _advance_sequences(conn)
    except IntegrityError as exc:
        raise _bad(f"Invalid snapshot: its rows are not consistent ({_constraint(exc)}); nothing was changed.") from None


def _constraint(exc: IntegrityError) -> str:
    text_ = str(exc.orig).splitlines()[0] if exc.orig is not None else "integrity error"
    return text_[:200]


async def _advance_sequences(conn) -> None:
    """Rows imported with their ids: move each serial counter past them."""
    for table in DATA_TABLES:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                isinstance(column.type, Integer) and column.autoincrement == "auto" and len(table.primary_key.columns) == 1
            ):
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                ))


async def import_snapshot(rt: Runtime, data: Any) -> None:
    async with rt.store.read() as conn:
        revision = await _revision(conn)
    await replace_store(rt, parse_snapshot(rt, data, revision))


async def reset_empty(rt: Runtime) -> None:
    await replace_store(rt, Parsed({}))


def start_snapshot_path(rt: Runtime) -> Path:
    return rt.settings.data_dir / START_SNAPSHOT_FILE


async def save_start_snapshot(rt: Runtime) -> Path:
    """Remember the store as the server started (after its seed): ``reset`` to "seed" restores it."""
    path = start_snapshot_path(rt)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(await export_snapshot(rt), separators=(",", ":"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(data)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


async def reset_to_seed(rt: Runtime) -> None:
    path = start_snapshot_path(rt)
    if not path.exists():
        raise _bad("This server started without a seed: reset to \"empty\", or start it with --dev or --seed FILE.")
    await import_snapshot(rt, json.loads(path.read_text()))
