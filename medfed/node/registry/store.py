"""The hospital's patient registry: patients, admissions and ICD diagnoses, in `registry.db` at the
node, sealed with the node's registry key (keys.py). Nothing of it is ever sent to the server.

In the clear the database holds only structure: keyed hashes (the secure ID, an admission's
lookup key), sequence numbers and timestamps. Names, local identifiers, admission numbers, birth
years and every code are sealed. Each write is one SQLite transaction, synced to disk, so a crash
at any point leaves a file imported wholly or not at all.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medfed.core.clock import isoformat, utcnow
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.node.registry import diagnoses_csv
from medfed.node.registry.codes import Code, InvalidCode, lookup
from medfed.node.registry.keys import SECURE_ID_PREFIX, RegistryKeys, load_or_create

DB_FILE = "registry.db"
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    secure_id TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS admissions (
    id INTEGER PRIMARY KEY,
    admission_key TEXT NOT NULL UNIQUE,
    secure_id TEXT NOT NULL REFERENCES patients(secure_id),
    sealed BLOB NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS diagnoses (
    admission_id INTEGER NOT NULL REFERENCES admissions(id),
    seq_num INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (admission_id, seq_num)
);
CREATE INDEX IF NOT EXISTS admissions_by_patient ON admissions (secure_id);
"""
SEXES = ("female", "male", "other", "unknown")
SECURE_ID = re.compile(r"^(P-)?[0-9A-F]{1,16}$")


@dataclass(frozen=True)
class Diagnosis:
    seq_num: int
    code: Code
    recorded_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq_num": self.seq_num, **self.code.as_dict(), "recorded_at": self.recorded_at}


@dataclass(frozen=True)
class Admission:
    hadm_id: str
    admitted_on: str | None
    recorded_at: str
    diagnoses: list[Diagnosis] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "hadm_id": self.hadm_id,
            "admitted_on": self.admitted_on,
            "recorded_at": self.recorded_at,
            "diagnoses": [d.as_dict() for d in self.diagnoses],
        }


@dataclass(frozen=True)
class Patient:
    secure_id: str
    name: str
    local_id: str
    birth_year: int | None
    sex: str | None
    registered_at: str
    admissions: int = 0
    diagnoses: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "secure_id": self.secure_id,
            "name": self.name,
            "local_id": self.local_id,
            "birth_year": self.birth_year,
            "sex": self.sex,
            "registered_at": self.registered_at,
            "admissions": self.admissions,
            "diagnoses": self.diagnoses,
        }


@dataclass(frozen=True)
class ImportReport:
    diagnoses: int
    admissions: int

    def as_dict(self) -> dict[str, int]:
        return {"diagnoses": self.diagnoses, "admissions": self.admissions}


def _text(value: str, name: str, longest: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidInput(f"{name} cannot be empty", field=name)
    if len(text) > longest or not text.isprintable():
        raise InvalidInput(f"{name} must be at most {longest} printable characters", field=name)
    return text


def normalise_secure_id(raw: str) -> str:
    text = raw.strip().upper()
    if not SECURE_ID.match(text):
        raise InvalidInput(
            f"{raw.strip()!r} is not a secure ID: expected {SECURE_ID_PREFIX} and 16 hex digits "
            "(or the start of them, when searching)",
            field="secure_id",
        )
    return text if text.startswith(SECURE_ID_PREFIX) else SECURE_ID_PREFIX + text


class Registry:
    def __init__(self, node_home: Path, *, after_row: Callable[[int], None] | None = None) -> None:
        node_home.mkdir(parents=True, exist_ok=True)
        self.path = node_home / DB_FILE
        self._home = node_home
        self._local = threading.local()
        self._after_row = after_row  # the crash tests' hook, called after each imported row
        with self._write() as connection:
            if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            has_rows = connection.execute("SELECT 1 FROM patients LIMIT 1").fetchone()
        self.keys: RegistryKeys = load_or_create(node_home, create=not has_rows)

    # Connections --------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    # Patients -----------------------------------------------------------------------------------

    def register(
        self, name: str, local_id: str, birth_year: int | None = None, sex: str | None = None
    ) -> Patient:
        name, local_id = _text(name, "name", 200), _text(local_id, "local_id", 64)
        now = utcnow()
        if birth_year is not None and not 1880 <= birth_year <= now.year:
            raise InvalidInput(
                f"birth_year must be between 1880 and {now.year}, not {birth_year}",
                field="birth_year",
            )
        if sex is not None and sex not in SEXES:
            raise InvalidInput(f"sex must be one of {', '.join(SEXES)}", field="sex")
        secure_id = self.keys.secure_id(local_id)
        record = {"name": name, "local_id": local_id, "birth_year": birth_year, "sex": sex}
        with self._write() as connection:
            if connection.execute(
                "SELECT 1 FROM patients WHERE secure_id = ?", (secure_id,)
            ).fetchone():
                raise Conflict(
                    f"local identifier {local_id} is already registered, as {secure_id}",
                    field="local_id",
                )
            connection.execute(
                "INSERT INTO patients (secure_id, sealed, registered_at) VALUES (?, ?, ?)",
                (secure_id, self.keys.seal(record), isoformat(now)),
            )
        return Patient(secure_id, name, local_id, birth_year, sex, isoformat(now))

    def patients(self, search: str | None = None, limit: int = 200) -> list[Patient]:
        """Newest first; `search` matches the start of a secure ID, or part of a name."""
        connection = self._connection()
        rows = connection.execute(
            "SELECT p.secure_id, p.sealed, p.registered_at, "
            "(SELECT COUNT(*) FROM admissions a WHERE a.secure_id = p.secure_id), "
            "(SELECT COUNT(*) FROM diagnoses d JOIN admissions a ON a.id = d.admission_id "
            " WHERE a.secure_id = p.secure_id) "
            "FROM patients p ORDER BY p.registered_at DESC, p.secure_id"
        ).fetchall()
        needle = (search or "").strip()
        found = []
        for secure_id, sealed, registered_at, admissions, diagnoses in rows:
            record = self.keys.open(sealed)
            if needle and not _matches(needle, secure_id, record["name"]):
                continue
            found.append(
                Patient(
                    secure_id,
                    record["name"],
                    record["local_id"],
                    record["birth_year"],
                    record["sex"],
                    registered_at,
                    admissions,
                    diagnoses,
                )
            )
            if len(found) >= limit:
                break
        return found

    def patient(self, secure_id: str) -> tuple[Patient, list[Admission]]:
        secure_id = normalise_secure_id(secure_id)
        connection = self._connection()
        row = connection.execute(
            "SELECT sealed, registered_at FROM patients WHERE secure_id = ?", (secure_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no patient {secure_id} is registered at this node", field="secure_id")
        record = self.keys.open(row[0])
        admissions = []
        for admission_id, sealed, recorded_at in connection.execute(
            "SELECT id, sealed, recorded_at FROM admissions WHERE secure_id = ? ORDER BY id",
            (secure_id,),
        ).fetchall():
            stay = self.keys.open(sealed)
            diagnoses = [
                Diagnosis(seq_num, Code(**self.keys.open(blob)), at)
                for seq_num, blob, at in connection.execute(
                    "SELECT seq_num, sealed, recorded_at FROM diagnoses WHERE admission_id = ? "
                    "ORDER BY seq_num",
                    (admission_id,),
                ).fetchall()
            ]
            admissions.append(
                Admission(stay["hadm_id"], stay["admitted_on"], recorded_at, diagnoses)
            )
        patient = Patient(
            secure_id,
            record["name"],
            record["local_id"],
            record["birth_year"],
            record["sex"],
            row[1],
            len(admissions),
            sum(len(a.diagnoses) for a in admissions),
        )
        return patient, admissions

    # Admissions and diagnoses ---------------------------------------------------------------------

    def admit(self, secure_id: str, hadm_id: str, admitted_on: str | None = None) -> Admission:
        secure_id = normalise_secure_id(secure_id)
        try:
            hadm_id = diagnoses_csv.parse_hadm_id(hadm_id)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="hadm_id") from None
        if admitted_on is not None:
            admitted_on = _date(admitted_on)
        now = isoformat(utcnow())
        with self._write() as connection:
            if not connection.execute(
                "SELECT 1 FROM patients WHERE secure_id = ?", (secure_id,)
            ).fetchone():
                raise NotFound(
                    f"no patient {secure_id} is registered at this node", field="secure_id"
                )
            key = self.keys.keyed_hash("admission", hadm_id)
            taken = connection.execute(
                "SELECT secure_id FROM admissions WHERE admission_key = ?", (key,)
            ).fetchone()
            if taken:
                raise Conflict(
                    f"admission {hadm_id} is already recorded, for patient {taken[0]}",
                    field="hadm_id",
                )
            connection.execute(
                "INSERT INTO admissions (admission_key, secure_id, sealed, recorded_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    key,
                    secure_id,
                    self.keys.seal({"hadm_id": hadm_id, "admitted_on": admitted_on}),
                    now,
                ),
            )
        return Admission(hadm_id, admitted_on, now)

    def diagnose(self, hadm_id: str, code: str, version: int, seq_num: int) -> Diagnosis:
        try:
            checked = lookup(code, version)
        except InvalidCode as exc:
            raise InvalidInput(str(exc), field="icd_code") from None
        try:
            seq_num = diagnoses_csv.parse_seq_num(str(seq_num))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="seq_num") from None
        try:
            hadm_id = diagnoses_csv.parse_hadm_id(hadm_id)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="hadm_id") from None
        row = diagnoses_csv.DiagnosisRow(0, hadm_id, checked, seq_num)
        with self._write() as connection:
            admissions, problems = self._check(connection, [row])
            if problems:
                field = "hadm_id" if row.hadm_id not in admissions else "seq_num"
                raise InvalidInput(problems[0].message, field=field)
            (stored,) = self._insert(connection, admissions, [row])
        return stored

    def import_diagnoses(self, text: str) -> ImportReport:
        """A whole file or nothing: every row is checked (its code against the code set, its
        admission and sequence number against the registry) before any is kept."""
        rows, problems = diagnoses_csv.parse(text)
        with self._write() as connection:
            admissions, more = self._check(connection, rows)
            problems = sorted([*problems, *more], key=lambda p: p.line)
            if problems:
                raise InvalidInput(diagnoses_csv.summary(problems), field="file")
            stored = self._insert(connection, admissions, rows)
        return ImportReport(len(stored), len(admissions))

    def _check(
        self, connection: sqlite3.Connection, rows: list[diagnoses_csv.DiagnosisRow]
    ) -> tuple[dict[str, int], list[diagnoses_csv.Problem]]:
        """The admissions the rows name (hadm_id to row id), and what is wrong with the rows."""
        admissions: dict[str, int] = {}
        problems: list[diagnoses_csv.Problem] = []
        for row in rows:
            if row.hadm_id not in admissions:
                found = connection.execute(
                    "SELECT id FROM admissions WHERE admission_key = ?",
                    (self.keys.keyed_hash("admission", row.hadm_id),),
                ).fetchone()
                admissions[row.hadm_id] = found[0] if found else -1
            admission_id = admissions[row.hadm_id]
            if admission_id < 0:
                problems.append(
                    diagnoses_csv.Problem(
                        row.line,
                        f"admission {row.hadm_id} is not recorded: add it to a registered "
                        "patient first",
                    )
                )
            elif connection.execute(
                "SELECT 1 FROM diagnoses WHERE admission_id = ? AND seq_num = ?",
                (admission_id, row.seq_num),
            ).fetchone():
                problems.append(
                    diagnoses_csv.Problem(
                        row.line,
                        f"admission {row.hadm_id} already has a diagnosis at seq_num {row.seq_num}",
                    )
                )
        return {k: v for k, v in admissions.items() if v >= 0}, problems

    def _insert(
        self,
        connection: sqlite3.Connection,
        admissions: dict[str, int],
        rows: list[diagnoses_csv.DiagnosisRow],
    ) -> list[Diagnosis]:
        now = isoformat(utcnow())
        stored = []
        for index, row in enumerate(rows):
            connection.execute(
                "INSERT INTO diagnoses (admission_id, seq_num, sealed, recorded_at) "
                "VALUES (?, ?, ?, ?)",
                (admissions[row.hadm_id], row.seq_num, self.keys.seal(row.code.as_dict()), now),
            )
            stored.append(Diagnosis(row.seq_num, row.code, now))
            if self._after_row:
                self._after_row(index)
        return stored

    def counts(self) -> dict[str, int]:
        """How much is registered, in numbers only (what a node may say about its registry)."""
        connection = self._connection()
        return {
            table: int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("patients", "admissions", "diagnoses")
        }


def _date(raw: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise InvalidInput(
            f"admitted_on must be a date such as 2026-03-14, not {raw.strip()!r}",
            field="admitted_on",
        ) from None


def _matches(needle: str, secure_id: str, name: str) -> bool:
    upper = needle.upper()
    bare = secure_id.removeprefix(SECURE_ID_PREFIX)
    if secure_id.startswith(upper) or bare.startswith(upper):
        return True
    return needle.casefold() in name.casefold()
