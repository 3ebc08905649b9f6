"""A CSV of diagnoses in the shape hospitals export them: hadm_id, icd_code, icd_version, seq_num.

Parsing is pure: it reads text and returns rows with their line numbers, or every problem it found
(line, column, what is wrong). Whether an admission exists or a sequence number is taken is the
store's question, asked inside the transaction that writes the rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from medfed.core.coercion import normalise_name
from medfed.node.registry.codes import Code, InvalidCode, lookup

COLUMNS = ("hadm_id", "icd_code", "icd_version", "seq_num")
IGNORED = ("subject_id",)  # in exports that carry it; the admission already names the patient
MAX_ROWS = 100_000
MAX_PROBLEMS = 20  # listed in one refusal; the count says how many more


@dataclass(frozen=True)
class DiagnosisRow:
    line: int
    hadm_id: str
    code: Code
    seq_num: int


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def parse_seq_num(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"seq_num must be a whole number, not {raw.strip()!r}") from None
    if not 1 <= value <= 999:
        raise ValueError(f"seq_num must be between 1 and 999, not {value}")
    return value


def parse_version(raw: str) -> int:
    text = raw.strip()
    if text not in ("9", "10"):
        raise ValueError(f"icd_version must be 9 or 10, not {text!r}")
    return int(text)


def parse_hadm_id(raw: str) -> str:
    text = raw.strip()
    if not text or len(text) > 64 or not text.isprintable():
        raise ValueError("hadm_id must be 1 to 64 printable characters")
    return text


def parse(text: str) -> tuple[list[DiagnosisRow], list[Problem]]:
    """Every row, or every problem (a file with any problem is imported not at all)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        return [], [Problem(0, f"the file is empty: expected a header {', '.join(COLUMNS)}")]
    names = [normalise_name(cell) for cell in header]
    wanted = {normalise_name(c): c for c in COLUMNS}
    missing = [c for key, c in wanted.items() if key not in names]
    unknown = [
        cell
        for cell, name in zip(header, names, strict=True)
        if name not in wanted and name not in {normalise_name(i) for i in IGNORED}
    ]
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {', '.join(unknown)}"] if unknown else []
        return [], [Problem(1, f"the header must be {', '.join(COLUMNS)} ({'; '.join(parts)})")]
    where = {column: names.index(normalise_name(column)) for column in COLUMNS}
    rows: list[DiagnosisRow] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, int], int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) + len(problems) >= MAX_ROWS:
            problems.append(Problem(line, f"more than {MAX_ROWS} rows: split the file"))
            break
        if len(cells) != len(header):
            problems.append(Problem(line, f"{len(cells)} cells where the header has {len(header)}"))
            continue
        try:
            hadm_id = parse_hadm_id(cells[where["hadm_id"]])
            version = parse_version(cells[where["icd_version"]])
            seq_num = parse_seq_num(cells[where["seq_num"]])
            code = lookup(cells[where["icd_code"]], version)
        except (ValueError, InvalidCode) as exc:
            problems.append(Problem(line, str(exc)))
            continue
        first = seen.setdefault((hadm_id, seq_num), line)
        if first != line:
            problems.append(
                Problem(
                    line, f"admission {hadm_id} has seq_num {seq_num} twice (also line {first})"
                )
            )
            continue
        rows.append(DiagnosisRow(line, hadm_id, code, seq_num))
    if not rows and not problems:
        problems.append(Problem(0, "the file has a header but no diagnoses"))
    return rows, problems


def summary(problems: list[Problem]) -> str:
    """One message for a refused file: the first problems, and how many more there are."""
    shown = "; ".join(str(p) for p in problems[:MAX_PROBLEMS])
    more = len(problems) - MAX_PROBLEMS
    tail = f"; and {more} more" if more > 0 else ""
    return f"nothing was imported: {shown}{tail}"
