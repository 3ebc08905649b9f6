"""The node's own small database: the privacy ledger and the job history (SQLite in the node home).

Crash-safe by construction: a job's result and its ledger entry are written in one transaction.
A DP contribution's ledger entry keeps its mechanism (noise, sample rate, steps) and charges what
it adds to the hospital's Renyi-composed total (ml/accounting.py), so the entries add up.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medfed.core.clock import isoformat, utcnow
from medfed.fl.privacy import Spend, compose
from medfed.ml.accounting import Mechanism, increment

SCHEMA_VERSION = 6
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    disease TEXT NOT NULL,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    rows INTEGER NOT NULL,
    job_id TEXT NOT NULL UNIQUE,
    recorded_at TEXT NOT NULL,
    reported_at TEXT,
    noise_multiplier REAL,
    sample_rate REAL,
    steps INTEGER
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    disease TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    result TEXT,
    error TEXT,
    contributed_at TEXT
);
CREATE TABLE IF NOT EXISTS rounds (
    round_id INTEGER PRIMARY KEY,
    disease TEXT NOT NULL,
    status TEXT NOT NULL,
    job_id TEXT,
    note TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS analytics (
    query_id INTEGER PRIMARY KEY,
    disease TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    answer BLOB,
    note TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS analytics_approvals (
    query_id INTEGER PRIMARY KEY,
    approved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS analytics_secagg (
    query_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    disease: str
    epsilon: float
    delta: float
    rows: int
    job_id: str
    recorded_at: str
    reported_at: str | None
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int | None = None

    @property
    def mechanism(self) -> Mechanism | None:
        if self.noise_multiplier is None or self.sample_rate is None or self.steps is None:
            return None
        return Mechanism(self.noise_multiplier, self.sample_rate, self.steps)


@dataclass(frozen=True)
class AnalyticsEntry:
    """What this hospital did with one analytics query: answered (epsilon spent, the answer it
    sent kept to send again) or declined (nothing spent, the reason)."""

    query_id: int
    disease: str
    kind: str
    status: str
    epsilon: float
    delta: float
    answer: bytes | None
    note: str | None
    recorded_at: str


_ALL_ANALYTICS = (
    "SELECT query_id, disease, kind, status, epsilon, delta, answer, note, recorded_at "
    "FROM analytics ORDER BY query_id"
)
_ONE_ANALYTICS = (
    "SELECT query_id, disease, kind, status, epsilon, delta, answer, note, recorded_at "
    "FROM analytics WHERE query_id = ?"
)


@dataclass(frozen=True)
class Job:
    id: str
    disease: str
    status: str
    created_at: str
    finished_at: str | None
    result: dict[str, Any] | None
    error: str | None
    contributed_at: str | None


@dataclass(frozen=True)
class RoundEntry:
    round_id: int
    disease: str
    status: str
    job_id: str | None
    note: str | None
    updated_at: str


class NodeState:
    def __init__(self, node_home: Path) -> None:
        node_home.mkdir(parents=True, exist_ok=True)
        self.path = node_home / "node.db"
        self._local = threading.local()
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                # executescript runs its own transaction; CREATE ... IF NOT EXISTS is idempotent.
                connection.executescript(
                    f"BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            columns = {row[1] for row in connection.execute("PRAGMA table_info(rounds)")}
            if "secagg" not in columns:  # node databases made before secure aggregation
                connection.execute("ALTER TABLE rounds ADD COLUMN secagg TEXT")
            columns = {row[1] for row in connection.execute("PRAGMA table_info(ledger)")}
            for name, kind in (
                ("noise_multiplier", "REAL"),
                ("sample_rate", "REAL"),
                ("steps", "INTEGER"),
            ):
                if name not in columns:  # ledgers made before Renyi composition across entries
                    connection.execute(f"ALTER TABLE ledger ADD COLUMN {name} {kind}")
            # Kept in the file once set: later connections need not ask again.
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened once and kept: opening one per statement cost a
        connect, and closing the last one a WAL checkpoint, several times per round step."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._local.connection = connection
        return connection

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """For one SELECT: no write lock and no commit (WAL readers never wait for a writer)."""
        yield self._connection()

    @contextmanager
    def _connect(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed before the caller goes on. A durable one (the
        ledger, a job's result) is also synced to disk; round progress is not (WAL with
        synchronous=NORMAL: a crash of the node loses nothing, a power cut at most the last
        steps, which the node then learns again from the server), since a sync at each step
        was most of a node's time in a round."""
        connection = self._connection()
        mode = "FULL" if durable else "NORMAL"
        if getattr(self._local, "synchronous", None) != mode:
            connection.execute(f"PRAGMA synchronous={mode}")
            self._local.synchronous = mode
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # the kept connection must not stay mid-transaction
                connection.execute("ROLLBACK")
            raise

    # Ledger -----------------------------------------------------------------------------------

    def spent(self, disease: str) -> Spend:
        return compose(Spend(e.epsilon, e.delta) for e in self.ledger(disease))

    def ledger(self, disease: str | None = None) -> list[LedgerEntry]:
        with self._read() as connection:
            return _ledger(connection, disease)

    def charge(self, disease: str, mechanism: Mechanism, alone: Spend) -> float:
        """What a contribution by `mechanism` (epsilon `alone` by itself) would add to the ledger."""
        with self._connect() as connection:
            return _charge(_ledger(connection, disease), mechanism, alone)

    def mark_reported(self, entry_ids: list[int]) -> None:
        with self._connect() as connection:
            connection.executemany(
                "UPDATE ledger SET reported_at = ? WHERE id = ?",
                [(isoformat(utcnow()), i) for i in entry_ids],
            )

    # Analytics --------------------------------------------------------------------------------

    def analytics_entry(self, query_id: int) -> AnalyticsEntry | None:
        with self._read() as connection:
            row = connection.execute(_ONE_ANALYTICS, (query_id,)).fetchone()
        return AnalyticsEntry(*row) if row else None

    def analytics_entries(self, disease: str | None = None) -> list[AnalyticsEntry]:
        with self._read() as connection:
            rows = connection.execute(_ALL_ANALYTICS).fetchall()
        return [e for e in (AnalyticsEntry(*row) for row in rows) if disease in (None, e.disease)]

    def analytics_spent(self, disease: str) -> Spend:
        """Epsilon and delta this hospital's analytics answers spent on a disease (basic
        composition: the sum, an upper bound whatever the mechanisms)."""
        answered = [e for e in self.analytics_entries(disease) if e.status == "answered"]
        return Spend(sum(e.epsilon for e in answered), sum(e.delta for e in answered))

    def approve_analytics(self, query_id: int) -> None:
        """A person at the hospital approved answering this query (the policy may ask for it)."""
        with self._connect() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO analytics_approvals (query_id, approved_at) VALUES (?, ?)",
                (query_id, isoformat(utcnow())),
            )

    def analytics_approved(self, query_id: int) -> bool:
        with self._read() as connection:
            return (
                connection.execute(
                    "SELECT 1 FROM analytics_approvals WHERE query_id = ?", (query_id,)
                ).fetchone()
                is not None
            )

    def record_analytics(
        self,
        query_id: int,
        disease: str,
        kind: str,
        status: str,
        epsilon: float,
        delta: float,
        answer: bytes | None,
        note: str | None,
    ) -> AnalyticsEntry:
        """Record a decision once: an answer (with its spend) is never drawn twice for one
        query, since two noisy draws of the same figures would average the noise away."""
        with self._connect() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO analytics (query_id, disease, kind, status, epsilon, "
                "delta, answer, note, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    query_id,
                    disease,
                    kind,
                    status,
                    epsilon,
                    delta,
                    answer,
                    note,
                    isoformat(utcnow()),
                ),
            )
            row = connection.execute(_ONE_ANALYTICS, (query_id,)).fetchone()
        return AnalyticsEntry(*row)

    def save_analytics_secagg(self, query_id: int, state: dict[str, Any]) -> None:
        """This hospital's secure-aggregation keys for one query (kept until it ends)."""
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO analytics_secagg (query_id, state) VALUES (?, ?) "
                "ON CONFLICT (query_id) DO UPDATE SET state = excluded.state",
                (query_id, json.dumps(state)),
            )

    def load_analytics_secagg(self, query_id: int) -> dict[str, Any] | None:
        with self._read() as connection:
            row = connection.execute(
                "SELECT state FROM analytics_secagg WHERE query_id = ?", (query_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    # Jobs -------------------------------------------------------------------------------------

    def start_job(self, job_id: str, disease: str) -> None:
        with self._connect(durable=False) as connection:
            connection.execute(
                "INSERT INTO jobs (id, disease, status, created_at) VALUES (?, ?, 'running', ?)",
                (job_id, disease, isoformat(utcnow())),
            )

    def finish_job(
        self,
        job_id: str,
        result: dict[str, Any],
        spend: Spend | None,
        rows: int,
        mechanism: Mechanism | None = None,
    ) -> float | None:
        """The result and its privacy spend land together or not at all. With the `mechanism`,
        the ledger is charged the increase of the composed total (at most `spend.epsilon`);
        returns the epsilon charged."""
        now = isoformat(utcnow())
        with self._connect() as connection:
            charged = None
            if spend is not None:
                charged = spend.epsilon
                if mechanism is not None:
                    prior = _ledger(connection, result["disease"])
                    charged = _charge(prior, mechanism, spend)
                    result = {**result, "epsilon": charged}
                connection.execute(
                    "INSERT INTO ledger (disease, epsilon, delta, rows, job_id, recorded_at, "
                    "noise_multiplier, sample_rate, steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        result["disease"],
                        charged,
                        spend.delta,
                        rows,
                        job_id,
                        now,
                        mechanism.noise_multiplier if mechanism else None,
                        mechanism.sample_rate if mechanism else None,
                        mechanism.steps if mechanism else None,
                    ),
                )
            connection.execute(
                "UPDATE jobs SET status = 'trained', finished_at = ?, result = ? WHERE id = ?",
                (now, json.dumps(result), job_id),
            )
            return charged

    def fail_job(self, job_id: str, error: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                (isoformat(utcnow()), error, job_id),
            )

    def mark_contributed(self, job_id: str) -> None:
        with self._connect(durable=False) as connection:
            connection.execute(
                "UPDATE jobs SET status = 'contributed', contributed_at = ? WHERE id = ?",
                (isoformat(utcnow()), job_id),
            )

    def jobs(self) -> list[Job]:
        with self._read() as connection:
            rows = connection.execute(JOB_COLUMNS + " ORDER BY created_at").fetchall()
        return [_job(row) for row in rows]

    def job(self, job_id: str) -> Job | None:
        with self._read() as connection:
            row = connection.execute(JOB_COLUMNS + " WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    # Rounds -----------------------------------------------------------------------------------

    def round_entry(self, round_id: int) -> RoundEntry | None:
        with self._read() as connection:
            row = connection.execute(
                "SELECT round_id, disease, status, job_id, note, updated_at FROM rounds WHERE round_id = ?",
                (round_id,),
            ).fetchone()
        return RoundEntry(*row) if row else None

    def set_round(
        self,
        round_id: int,
        disease: str,
        status: str,
        *,
        job_id: str | None = None,
        note: str | None = None,
    ) -> None:
        with self._connect(durable=False) as connection:
            connection.execute(
                "INSERT INTO rounds (round_id, disease, status, job_id, note, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (round_id) DO UPDATE SET "
                "status = excluded.status, job_id = COALESCE(excluded.job_id, rounds.job_id), "
                "note = COALESCE(excluded.note, rounds.note), updated_at = excluded.updated_at",
                (round_id, disease, status, job_id, note, isoformat(utcnow())),
            )

    def round_entries(self) -> list[RoundEntry]:
        with self._read() as connection:
            rows = connection.execute(
                "SELECT round_id, disease, status, job_id, note, updated_at FROM rounds ORDER BY round_id"
            ).fetchall()
        return [RoundEntry(*row) for row in rows]

    def save_secagg(self, round_id: int, state: dict[str, Any]) -> None:
        """The protocol state of this hospital in a round, kept before each message is sent."""
        with self._connect(durable=False) as connection:
            connection.execute(
                "UPDATE rounds SET secagg = ? WHERE round_id = ?", (json.dumps(state), round_id)
            )

    def load_secagg(self, round_id: int) -> dict[str, Any] | None:
        with self._read() as connection:
            row = connection.execute(
                "SELECT secagg FROM rounds WHERE round_id = ?", (round_id,)
            ).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def split_seed(self) -> int:
        """This node's fixed seed for choosing local validation rows (random, made once)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT value FROM settings WHERE key = 'split_seed'"
            ).fetchone()
            if row:
                return int(row[0])
            seed = int.from_bytes(os.urandom(8), "little") >> 1
            connection.execute(
                "INSERT INTO settings (key, value) VALUES ('split_seed', ?)", (str(seed),)
            )
            return seed


JOB_COLUMNS = (
    "SELECT id, disease, status, created_at, finished_at, result, error, contributed_at FROM jobs"
)


def _job(row: tuple[Any, ...]) -> Job:
    result = json.loads(row[5]) if row[5] else None
    return Job(row[0], row[1], row[2], row[3], row[4], result, row[6], row[7])


def _ledger(connection: sqlite3.Connection, disease: str | None) -> list[LedgerEntry]:
    query = (
        "SELECT id, disease, epsilon, delta, rows, job_id, recorded_at, reported_at, "
        "noise_multiplier, sample_rate, steps FROM ledger"
    )
    arguments: tuple[str, ...] = ()
    if disease:
        query += " WHERE disease = ?"
        arguments = (disease,)
    return [LedgerEntry(*row) for row in connection.execute(query + " ORDER BY id", arguments)]


def _charge(prior: list[LedgerEntry], mechanism: Mechanism, alone: Spend) -> float:
    """Entries with a mechanism compose under Renyi DP, converted at the smallest delta among
    them; entries without one (made before) stay outside the composition, added as they are."""
    composable = [e for e in prior if e.mechanism is not None]
    delta = min([alone.delta, *(e.delta for e in composable)])
    return increment(
        [e.mechanism for e in composable if e.mechanism is not None],
        sum(e.epsilon for e in composable),
        mechanism,
        alone.epsilon,
        delta,
    )
