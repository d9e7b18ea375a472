"""A study (`Study`): reading and writing the blinded items, the raters and every answer of a study file.

The file itself (schema, creation, opening) is `database`; the rows are `records`, whose names are re-exported
here. Every write is one explicit transaction, so an answer that the server acknowledged survives the server
being killed. A rater answers an item at most once: the (rater, item) primary key makes a repeat a no-op.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from seqgan.base.errors import UserError

from .database import create_database, now, open_database
from .records import LABEL_RE, NAME_RE, TOKEN_RE, AnswerRow, NextItem, Progress, Rater, SystemSpec

__all__ = ["LABEL_RE", "NAME_RE", "TOKEN_RE", "AnswerRow", "NextItem", "Progress", "Rater", "Study", "SystemSpec"]


class Study:
    """An open study database. Use `Study.create` or `Study.open`; close it (or use `with`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap an open connection; prefer `Study.open` / `Study.create`.

        Args:
            conn: connection with the study schema.
            path: the database file.
        """
        self.conn = conn
        self.path = path
        row = conn.execute("SELECT title, seed, fluency, organiser_token FROM study WHERE id = 1").fetchone()
        if row is None:
            raise UserError(
                f"{path} holds no study; create one with `seqgan human-eval create --study {path}`"
            )
        self.title: str = row[0]
        self.seed: int = int(row[1])
        self.fluency: bool = bool(row[2])
        self.organiser_token: str = row[3]

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls,
        path: str | Path,
        systems: Sequence[SystemSpec],
        texts: dict[str, list[str]],
        seed: int,
        fluency: bool = False,
        title: str = "Human or machine?",
        config: dict | None = None,
    ) -> Study:
        """Create a new study file: mix and blind the items, and store them in one transaction.

        The arguments are those of `seqgan.human.database.create_database`, which documents them.
        """
        path = Path(path)
        return cls(create_database(path, systems, texts, seed, fluency, title, config), path)

    @classmethod
    def open(cls, path: str | Path) -> Study:
        """Open an existing study file, checking that it is one and that its schema version is known.

        Args:
            path: the database file.
        """
        path = Path(path)
        conn = open_database(path)
        try:
            return cls(conn, path)
        except sqlite3.DatabaseError as err:
            conn.close()
            raise UserError(f"{path} is not a readable SQLite study ({err}); check the path") from err
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def systems(self) -> list[SystemSpec]:
        """The systems in report order."""
        rows = self.conn.execute("SELECT name, source, is_real FROM systems ORDER BY position").fetchall()
        return [SystemSpec(name, source, bool(is_real)) for name, source, is_real in rows]

    def items(self) -> list[tuple[str, str, str]]:
        """Every item as (code, system, text), in code order (which says nothing about the system)."""
        return self.conn.execute("SELECT code, system, text FROM items ORDER BY code").fetchall()

    def item_count(self) -> int:
        """Number of items in the study."""
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def config(self) -> dict:
        """How the study was made (the JSON recorded at creation)."""
        return json.loads(self.conn.execute("SELECT config FROM study WHERE id = 1").fetchone()[0])

    def base_url(self) -> str | None:
        """The address the latest invitation links point at (recorded by `invite`), or None."""
        url = self.config().get("base_url")
        return url if isinstance(url, str) and url else None

    def record_base_url(self, url: str) -> None:
        """Remember the address invitation links point at, so `serve` can listen where the links lead.

        Args:
            url: e.g. "http://127.0.0.1:8765".
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            config = json.loads(self.conn.execute("SELECT config FROM study WHERE id = 1").fetchone()[0])
            config["base_url"] = url
            self.conn.execute("UPDATE study SET config = ? WHERE id = 1", (json.dumps(config),))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def raters(self) -> list[Rater]:
        """Every rater, in the order they were added."""
        rows = self.conn.execute("SELECT id, label, token, source FROM raters ORDER BY id").fetchall()
        return [Rater(*row) for row in rows]

    def rater_by_token(self, token: str | None) -> Rater | None:
        """The rater whose invitation token this is, or None.

        Args:
            token: token from the invitation link.
        """
        if not token or not TOKEN_RE.match(token):
            return None
        row = self.conn.execute(
            "SELECT id, label, token, source FROM raters WHERE token = ?", (token,)
        ).fetchone()
        if row is None or not secrets.compare_digest(row[2], token):
            return None
        return Rater(*row)

    def is_organiser(self, token: str | None) -> bool:
        """Whether this is the organiser's secret token.

        Args:
            token: token from the organiser link.
        """
        return bool(token) and secrets.compare_digest(str(token), self.organiser_token)

    def next_item(self, rater_id: int) -> NextItem | None:
        """The first item in the rater's order that they have not answered, or None when done.

        Args:
            rater_id: the rater.
        """
        total, answered = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM assignments WHERE rater_id = ?),"
            " (SELECT COUNT(*) FROM answers WHERE rater_id = ?)",
            (rater_id, rater_id),
        ).fetchone()
        row = self.conn.execute(
            "SELECT i.code, i.text FROM assignments a JOIN items i ON i.id = a.item_id"
            " WHERE a.rater_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM answers x WHERE x.rater_id = a.rater_id AND x.item_id = a.item_id)"
            " ORDER BY a.position LIMIT 1",
            (rater_id,),
        ).fetchone()
        if row is None:
            return None
        return NextItem(row[0], row[1], int(answered), int(total))

    def assigned_count(self, rater_id: int) -> int:
        """How many items the rater was given.

        Args:
            rater_id: the rater.
        """
        return int(
            self.conn.execute("SELECT COUNT(*) FROM assignments WHERE rater_id = ?", (rater_id,)).fetchone()[
                0
            ]
        )

    def answers(self) -> list[AnswerRow]:
        """Every answer, oldest first."""
        rows = self.conn.execute(
            "SELECT r.label, i.code, i.system, x.human, x.fluency, x.answered_at, x.source"
            " FROM answers x JOIN raters r ON r.id = x.rater_id JOIN items i ON i.id = x.item_id"
            " ORDER BY x.answered_at, x.rowid"
        ).fetchall()
        return [AnswerRow(r, i, s, bool(h), f, at, src) for r, i, s, h, f, at, src in rows]

    def answer_count(self) -> int:
        """Number of stored answers."""
        return int(self.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def progress(self) -> list[Progress]:
        """Per-rater progress, in the order raters were added."""
        rows = self.conn.execute(
            "SELECT r.label, r.token, r.source,"
            " (SELECT COUNT(*) FROM answers x WHERE x.rater_id = r.id),"
            " (SELECT COUNT(*) FROM assignments a WHERE a.rater_id = r.id),"
            " (SELECT MAX(answered_at) FROM answers x WHERE x.rater_id = r.id)"
            " FROM raters r ORDER BY r.id"
        ).fetchall()
        return [Progress(*row) for row in rows]

    # ------------------------------------------------------------------ writing
    def add_raters(self, n: int, prefix: str = "r") -> list[Rater]:
        """Invite n new raters, each with a secret token and their own random item order.

        Args:
            n: how many raters to add.
            prefix: label prefix; labels are prefix + a running number.
        """
        if n < 1:
            raise UserError("--n must be at least 1")
        if not LABEL_RE.match(prefix):
            raise UserError("--prefix may hold only letters, digits and _.@:+-")
        item_ids = [row[0] for row in self.conn.execute("SELECT id FROM items ORDER BY id")]
        added: list[Rater] = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            start = int(self.conn.execute("SELECT COUNT(*) FROM raters").fetchone()[0]) + 1
            number = start
            while len(added) < n:
                label = f"{prefix}{number:03d}"
                number += 1
                if self.conn.execute("SELECT 1 FROM raters WHERE label = ?", (label,)).fetchone():
                    continue
                token = secrets.token_urlsafe(18)
                cur = self.conn.execute(
                    "INSERT INTO raters (label, token, source, created_at) VALUES (?, ?, 'web', ?)",
                    (label, token, now()),
                )
                rater_id = int(cur.lastrowid)
                order = list(item_ids)
                random.Random(f"{self.seed}/{label}").shuffle(order)
                self.conn.executemany(
                    "INSERT INTO assignments (rater_id, position, item_id) VALUES (?, ?, ?)",
                    [(rater_id, pos, item_id) for pos, item_id in enumerate(order)],
                )
                added.append(Rater(rater_id, label, token, "web"))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return added

    def record_answer(
        self, rater_id: int, item_code: str, human: bool, fluency: int | None = None, source: str = "web"
    ) -> bool:
        """Store one answer in its own transaction; False (and nothing changed) if already answered.

        Raises KeyError when the item is not assigned to this rater.

        Args:
            rater_id: the rater.
            item_code: the blinded item code; must be assigned to this rater.
            human: True if the rater said a person wrote it.
            fluency: 1-5, or None.
            source: where the answer came from ("web" or "import").
        """
        (stored,) = self.record_answers([(rater_id, item_code, human, fluency)], source)
        if stored is None:
            raise KeyError(item_code)
        return stored

    def record_answers(
        self, answers: Sequence[tuple[int, str, bool, int | None]], source: str = "web"
    ) -> list[bool | None]:
        """Store several answers in one transaction (one disk sync): per answer True if stored, False if that
        rater had already answered that item, None if the item is not assigned to them (nothing stored).

        Args:
            answers: (rater id, item code, judged human, fluency or None) per answer.
            source: where the answers came from ("web" or "import").
        """
        results: list[bool | None] = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for rater_id, item_code, human, fluency in answers:
                row = self.conn.execute(
                    "SELECT i.id FROM items i JOIN assignments a ON a.item_id = i.id"
                    " WHERE i.code = ? AND a.rater_id = ?",
                    (item_code, rater_id),
                ).fetchone()
                if row is None:
                    results.append(None)
                    continue
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO answers (rater_id, item_id, human, fluency, answered_at, source)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (rater_id, row[0], int(bool(human)), fluency, now(), source),
                )
                results.append(cur.rowcount == 1)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return results

    def import_answers(self, rows: Iterable[tuple[str, str, bool, int | None]]) -> tuple[int, int]:
        """Add answers collected elsewhere, all in one transaction; returns (added, already present).

        Raters are matched by label and created (without a token) when new. An unknown item code
        aborts the whole import.

        Args:
            rows: (rater label, item code, judged human, fluency or None) per answer.
        """
        added = duplicates = 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            item_ids = dict(self.conn.execute("SELECT code, id FROM items").fetchall())
            rater_ids = dict(self.conn.execute("SELECT label, id FROM raters").fetchall())
            for n, (label, code, human, fluency) in enumerate(rows, start=1):
                if code not in item_ids:
                    raise UserError(
                        f"answer {n}: item {code!r} is not in this study; import into the study"
                        " whose `export` sheet the answers were collected with"
                    )
                if label not in rater_ids:
                    cur = self.conn.execute(
                        "INSERT INTO raters (label, token, source, created_at) VALUES (?, NULL, 'import', ?)",
                        (label, now()),
                    )
                    rater_ids[label] = int(cur.lastrowid)
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO answers (rater_id, item_id, human, fluency, answered_at, source)"
                    " VALUES (?, ?, ?, ?, ?, 'import')",
                    (rater_ids[label], item_ids[code], int(bool(human)), fluency, now()),
                )
                if cur.rowcount == 1:
                    added += 1
                else:
                    duplicates += 1
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return added, duplicates
