"""The study file on disk: its SQLite schema, and creating or opening it safely.

All SQL goes through `sqlite3` parameters. The database runs in WAL mode with ``synchronous=FULL``, and
every write is one explicit transaction, so an answer that the server acknowledged survives the server
being killed.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from seqgan.base.errors import UserError

from .records import SystemSpec

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE study (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    title TEXT NOT NULL,
    seed INTEGER NOT NULL,
    fluency INTEGER NOT NULL CHECK (fluency IN (0, 1)),
    organiser_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE systems (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    is_real INTEGER NOT NULL CHECK (is_real IN (0, 1)),
    position INTEGER NOT NULL
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    system TEXT NOT NULL REFERENCES systems(name),
    text TEXT NOT NULL
);
CREATE TABLE raters (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL UNIQUE,
    token TEXT UNIQUE,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id),
    PRIMARY KEY (rater_id, position),
    UNIQUE (rater_id, item_id)
);
CREATE TABLE answers (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    human INTEGER NOT NULL CHECK (human IN (0, 1)),
    fluency INTEGER CHECK (fluency BETWEEN 1 AND 5),
    answered_at TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (rater_id, item_id)
);
"""


def now() -> str:
    """The current UTC time as ISO 8601 to the second (how every time in the study is stored)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the study file with the pragmas every reader and writer needs (autocommit off).

    Args:
        path: the database file.
    """
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def create_database(
    path: Path,
    systems: Sequence[SystemSpec],
    texts: dict[str, list[str]],
    seed: int,
    fluency: bool,
    title: str,
    config: dict | None,
) -> sqlite3.Connection:
    """Create a new study file and store the mixed, blinded items in one transaction; returns the connection.

    Args:
        path: database file to create (must not exist).
        systems: the sources, in report order.
        texts: system name -> its texts.
        seed: seed of the mixing and of the item codes (recorded).
        fluency: also ask for fluency on a 1-5 scale.
        title: heading shown to raters.
        config: how the study was made (recorded as JSON).
    """
    if path.exists():
        raise UserError(f"{path} already exists; pick another --study path or delete the old file first")
    if not path.parent.exists():
        raise UserError(f"folder {path.parent} does not exist; create it first")
    items = [(spec.name, text) for spec in systems for text in texts[spec.name]]
    rng = random.Random(seed)
    rng.shuffle(items)
    code_list: list[str] = []
    while len(code_list) < len(items):
        code = f"{rng.getrandbits(40):010x}"
        if code not in code_list:
            code_list.append(code)
    # The file holds every secret token: create it readable by its owner only. SQLite gives the -wal and
    # -shm files it makes later the database file's permissions, so they are 0600 too.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError as err:
        raise UserError(f"{path} already exists; pick another --study path or delete the old file first") from err
    except OSError as err:
        raise UserError(f"cannot create {path} ({err.strerror}); check the folder's permissions") from err
    try:
        conn = connect(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute(
            "INSERT INTO study (id, title, seed, fluency, organiser_token, created_at, config)"
            " VALUES (1, ?, ?, ?, ?, ?, ?)",
            (title, seed, int(fluency), secrets.token_urlsafe(24), now(), json.dumps(config or {})),
        )
        conn.executemany(
            "INSERT INTO systems (name, source, is_real, position) VALUES (?, ?, ?, ?)",
            [(s.name, s.source, int(s.is_real), i) for i, s in enumerate(systems)],
        )
        conn.executemany(
            "INSERT INTO items (code, system, text) VALUES (?, ?, ?)",
            [(code, name, text) for code, (name, text) in zip(code_list, items, strict=True)],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        path.unlink(missing_ok=True)
        raise
    return conn


def open_database(path: Path) -> sqlite3.Connection:
    """Open an existing study file, checking that it is one and that its schema version is known.

    Args:
        path: the database file.
    """
    if not path.is_file():
        raise UserError(
            f"no study at {path}; create one with `seqgan human-eval create --study {path} ...`"
        )
    try:
        conn = connect(path)
    except sqlite3.DatabaseError as err:
        raise UserError(f"{path} is not a readable SQLite study ({err}); check the path") from err
    try:
        row = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if row is None:
            raise UserError(f"{path} is not a human-eval study (no schema_version table); check the path")
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise UserError(
                f"{path} has study schema version {version}, this seqgan reads version {SCHEMA_VERSION};"
                " use the seqgan release that created it"
            )
        return conn
    except sqlite3.DatabaseError as err:
        conn.close()
        raise UserError(f"{path} is not a readable SQLite study ({err}); check the path") from err
    except BaseException:
        conn.close()
        raise
