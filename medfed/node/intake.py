"""Read a hospital's CSV for one disease in a single streaming pass: what is wrong and where,
which columns are identifiers, and statistics for display. Memory does not grow with the file."""

from __future__ import annotations

import codecs
import copy
import csv
import io
import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medfed.core import columns as mapping
from medfed.core import units
from medfed.core.catalog import DiseaseSpec
from medfed.core.coercion import Value, ValueProblem, coerce_value, normalise_name, parse_label
from medfed.node.identifiers import IdentifierFinding, ValueScanner, by_column_name

if TYPE_CHECKING:
    from medfed.node.mappings import MappingBook

IDENTIFIER_SAMPLE_ROWS = 2000
MAX_LISTED_PROBLEMS = 20
FORMULA_PREFIXES = ("=", "@", "+", "-", "\t=", "\r=")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
NON_FINITE = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


class IntakeRefused(ValueError):
    """The file cannot be read at all; the message says why and how to fix it."""


@dataclass(frozen=True)
class Problem:
    row: int | None  # 1-based line number in the file; None for the whole file
    column: str | None
    message: str

    def describe(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return (", ".join(where) + ": " if where else "") + self.message


@dataclass
class ColumnStats:
    feature: str
    label: str
    kind: str
    present: int = 0
    missing: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    total_squares: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, value: Value) -> None:
        if value is None:
            self.missing += 1
            return
        self.present += 1
        if self.kind == "category":
            self.counts[str(value)] += 1
            return
        number = float(value)
        self.minimum, self.maximum = min(self.minimum, number), max(self.maximum, number)
        self.total += number
        self.total_squares += number * number

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "feature": self.feature,
            "label": self.label,
            "type": self.kind,
            "present": self.present,
            "missing": self.missing,
        }
        if self.kind == "category":
            result["counts"] = dict(self.counts)
        elif self.present:
            mean = self.total / self.present
            variance = max(0.0, self.total_squares / self.present - mean * mean)
            result.update(
                min=self.minimum,
                max=self.maximum,
                mean=round(mean, 4),
                std=round(math.sqrt(variance), 4),
            )
        return result


@dataclass
class IntakeReport:
    disease: str
    path: str
    encoding: str = "utf-8"
    delimiter: str = ","
    rows: int = 0
    valid_rows: int = 0
    positives: int = 0
    # Rows per class of a categorical outcome (empty for a binary one).
    class_counts: list[int] = field(default_factory=list)
    matched: dict[str, str] = field(default_factory=dict)  # feature -> column header
    # What each column was taken as, how (name, unit in the header, saved mapping, proposal),
    # and the unit conversion applied per feature.
    mapping: list[dict[str, Any]] = field(default_factory=list)
    conversions: dict[str, str] = field(default_factory=dict)
    mapping_saved: bool = False
    notes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    identifiers: list[IdentifierFinding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    columns: dict[str, ColumnStats] = field(default_factory=dict)
    min_rows: int = 0
    skip_invalid_rows: bool = False
    whole_file_problems: list[str] = field(default_factory=list)

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(problem)

    @property
    def blocking(self) -> list[str]:
        """Why the file cannot be trained on, in the order a person should fix things."""
        reasons = [
            f"{finding.describe()}; remove it or re-run with --drop-column {finding.column!r}"
            for finding in self.identifiers
        ]
        reasons.extend(self.whole_file_problems)
        if self.problem_count and not self.skip_invalid_rows:
            reasons.append(
                f"{self.problem_count} row(s) with problems (first: {self.problems[0].describe()}); "
                "fix them, or re-run with --skip-invalid-rows to leave those rows out"
            )
        if self.valid_rows < self.min_rows:
            reasons.append(
                f"{self.valid_rows} usable rows; the network's policy needs at least {self.min_rows}"
            )
        if self.class_counts:
            if self.valid_rows and sum(1 for c in self.class_counts if c) < 2:
                reasons.append("every row has the same outcome: training needs two classes or more")
        elif self.valid_rows and self.positives in (0, self.valid_rows):
            only = "positive" if self.positives else "negative"
            reasons.append(f"every row is {only}: training needs both classes")
        return reasons

    @property
    def ok(self) -> bool:
        return not self.blocking

    def as_dict(self) -> dict[str, Any]:
        return {
            "disease": self.disease,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows": self.rows,
            "valid_rows": self.valid_rows,
            "positives": self.positives,
            "class_counts": self.class_counts or None,
            "class_balance": round(self.positives / self.valid_rows, 4)
            if self.valid_rows
            else None,
            "matched_columns": self.matched,
            "mapping": self.mapping,
            "mapping_saved": self.mapping_saved,
            "conversions": self.conversions,
            "notes": self.notes,
            "ignored_columns": self.ignored_columns,
            "dropped_columns": self.dropped_columns,
            "identifiers": [f.describe() for f in self.identifiers],
            "problems": [p.describe() for p in self.problems],
            "problem_count": self.problem_count,
            "skipped_rows": self.problem_count if self.skip_invalid_rows else 0,
            "whole_file_problems": self.whole_file_problems,
            "columns": [c.as_dict() for c in self.columns.values()],
            "min_rows": self.min_rows,
            "ok": self.ok,
            "blocking": self.blocking,
        }


def open_text(path: Path) -> tuple[io.TextIOBase, str]:
    """The file as text, refusing binary data and encodings other than UTF-8 and Latin-1."""
    if not path.is_file():
        raise IntakeRefused(f"{path} does not exist or is not a file.")
    with path.open("rb") as handle:
        head = handle.read(65536)
    if not head.strip():
        raise IntakeRefused(f"{path.name} is empty: it needs a header row and one row per patient.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Spreadsheets' "Unicode text" export: UTF-16 with its byte-order mark, tab-separated.
        try:
            with path.open("r", encoding="utf-16", newline="") as text:
                for _ in iter(lambda: text.read(1 << 20), ""):
                    pass
        except UnicodeError:
            raise IntakeRefused(f"{path.name} is not readable UTF-16 text.") from None
        return path.open("r", encoding="utf-16", newline=""), "utf-16"
    if head[1:200:2].count(0) > 20:
        raise IntakeRefused(
            f"{path.name} looks like UTF-16 text without a byte-order mark; save it as CSV in "
            "UTF-8 (or as Unicode text, which starts with one)."
        )
    if b"\x00" in head or head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF")):
        raise IntakeRefused(
            f"{path.name} is binary data, not a CSV file (a spreadsheet? export it as CSV first)."
        )
    encoding = "utf-8-sig"
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as text:
            for _ in iter(lambda: text.read(1 << 20), ""):
                pass
    except UnicodeDecodeError:
        encoding = "latin-1"
    return path.open("r", encoding=encoding, newline=""), encoding


DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(header_line: str) -> str:
    """The separator the header uses most: comma, semicolon, tab or pipe (a comma on a tie)."""
    return max(DELIMITERS, key=lambda d: (header_line.count(d), d == ","))


def read_header(path: Path) -> list[str]:
    """The file's column names (its first row)."""
    handle, _ = open_text(path)
    with handle:
        first_line = handle.readline()
    return next(csv.reader([first_line], delimiter=sniff_delimiter(first_line)), [])


def header_of(head: bytes, name: str = "the file") -> list[str]:
    """The column names in the first bytes of a file (a page sends only those to map it)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head.decode("utf-16", errors="ignore").split("\n", 1)[0].rstrip("\r")
    elif b"\x00" in head:
        raise IntakeRefused(f"{name} is not CSV text in UTF-8, Latin-1 or UTF-16.")
    else:
        line = head.split(b"\n", 1)[0].rstrip(b"\r")
        try:
            text = line.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = line.decode("latin-1")
    if not text.strip():
        raise IntakeRefused(f"{name} has no header row of column names.")
    return next(csv.reader([text], delimiter=sniff_delimiter(text)), [])


@dataclass(frozen=True)
class Layout:
    header: list[str]
    feature_columns: dict[str, int]
    target_column: int
    dropped: set[int]
    # Column index -> the conversion of its values into its feature's unit (only real ones),
    # and feature -> the unit its column declared (None: the feature's own).
    converters: dict[int, units.Conversion] = field(default_factory=dict)
    declared: dict[str, str | None] = field(default_factory=dict)
    # A semicolon-separated export writes decimals with a comma ("8,2"), as European EMRs do.
    decimal_comma: bool = False

    def cell(self, cells: list[str], index: int) -> str:
        """A cell as written, a decimal comma read as a point."""
        text = cells[index].strip()
        if self.decimal_comma and _DECIMAL_COMMA.fullmatch(text):
            return text.replace(",", ".")
        return text


def _layout(
    spec: DiseaseSpec,
    header: list[str],
    drop: set[str],
    report: IntakeReport,
    book: MappingBook | None,
) -> Layout:
    if len(header) < 2 or all(not cell.strip() for cell in header):
        raise IntakeRefused(f"{report.path}: the first row is not a header of column names.")
    wanted_drops = {normalise_name(d) for d in drop}
    dropped = {i for i, name in enumerate(header) if normalise_name(name) in wanted_drops}
    unknown_drops = wanted_drops - {normalise_name(header[i]) for i in dropped}
    if unknown_drops:
        raise IntakeRefused(
            f"--drop-column names no column of the file: {', '.join(sorted(unknown_drops))}."
        )
    choices = _choices(spec, header, report, book)
    dropped |= {i for i, c in enumerate(choices) if c.role == mapping.DROP}
    report.dropped_columns = [header[i] for i in sorted(dropped)]
    choices = [
        mapping.Choice(c.header, mapping.DROP, how="left out") if i in dropped else c
        for i, c in enumerate(choices)
    ]
    report.mapping = [c.as_dict() for c in choices]
    used = [c if c.confirmed else mapping.Choice(c.header, mapping.IGNORE) for c in choices]
    _refuse_ambiguous(spec, used)
    try:
        conversions = mapping.check(spec, used)
    except mapping.MappingProblem as problem:
        raise IntakeRefused(f"{Path(report.path).name}: {problem}.") from None
    feature_columns = {
        c.feature: i for i, c in enumerate(used) if c.role == mapping.FEATURE and c.feature
    }
    target_column = next((i for i, c in enumerate(used) if c.role == mapping.TARGET), None)
    others = book.saved_for_others(spec.id, header) if book is not None else []
    elsewhere = (
        f" A mapping for exactly these columns is saved for {', '.join(others)}: is the file "
        "for that disease?"
        if others
        else ""
    )
    if target_column is None:
        raise IntakeRefused(
            f"No outcome column: add a column named {spec.dataset.target.column!r} "
            + (
                f"(one of {', '.join(c.code for c in spec.dataset.target.classes)})."
                if spec.categorical
                else f"({' or '.join(spec.dataset.target.positive)} = "
                f"{spec.positive_label.lower()})."
            )
            + elsewhere
        )
    missing = [f for f in spec.features if f.required and f.name not in feature_columns]
    if missing:
        raise IntakeRefused(_missing(spec, report, missing, choices) + elsewhere)
    for choice in choices:
        if not choice.confirmed and choice.feature not in feature_columns:
            report.notes.append(
                f"column {choice.header!r} looks like {spec.feature(choice.feature or '').label} "
                f"({choice.how}) and is not used until the mapping is confirmed: "
                f"`medfed node map {Path(report.path).name} --disease {spec.id} --accept`"
            )
    for index, name in enumerate(header):
        if index in dropped or index == target_column or index in feature_columns.values():
            continue
        kind = by_column_name(name)
        if kind:
            report.identifiers.append(IdentifierFinding(name, kind, "column name"))
        elif name.strip():
            report.ignored_columns.append(name)
    report.matched = {feature: header[index] for feature, index in feature_columns.items()}
    converters, declared = {}, {}
    for index, (choice, conversion) in enumerate(zip(used, conversions, strict=True)):
        if conversion is None or choice.feature is None:
            continue
        declared[choice.feature] = choice.unit
        if choice.unit:
            report.conversions[choice.feature] = conversion.describe()
        if not conversion.identity:
            converters[index] = conversion
    return Layout(
        header,
        feature_columns,
        target_column,
        dropped,
        converters,
        declared,
        decimal_comma=report.delimiter != ",",
    )


def _choices(
    spec: DiseaseSpec, header: list[str], report: IntakeReport, book: MappingBook | None
) -> list[mapping.Choice]:
    """The hospital's saved mapping for this disease and these columns, else the matches by
    name (and proposals, not applied)."""
    saved = book.find(spec.id, header) if book is not None else None
    if saved is not None:
        report.mapping_saved = True
        return [
            mapping.Choice(column, c.role, c.feature, c.unit, f"saved mapping ({saved.saved_at})")
            for column, c in zip(header, saved.choices, strict=True)
        ]
    others = book.saved_for_others(spec.id, header) if book is not None else []
    if others:
        report.notes.append(
            f"a mapping for exactly these columns is saved for {', '.join(others)}, not for "
            f"{spec.id}: it is not applied here"
        )
    return mapping.propose(spec, header)


def _refuse_ambiguous(spec: DiseaseSpec, used: list[mapping.Choice]) -> None:
    by_feature: dict[str, list[str]] = {}
    for choice in used:
        if choice.role == mapping.FEATURE and choice.feature and choice.how != "yours":
            by_feature.setdefault(choice.feature, []).append(choice.header)
    for feature, headers in by_feature.items():
        if len(headers) > 1:
            raise IntakeRefused(
                f"Columns {', '.join(repr(c) for c in headers)} all look like "
                f"{spec.feature(feature).label}; keep one or drop the others with --drop-column."
            )


def _missing(
    spec: DiseaseSpec,
    report: IntakeReport,
    missing: list[Any],
    choices: list[mapping.Choice],
) -> str:
    labels = ", ".join(f.label for f in missing)
    proposals = [
        f"{c.header!r} as {spec.feature(c.feature or '').label} ({c.how})"
        for c in choices
        if not c.confirmed
    ]
    command = f"`medfed node map {Path(report.path).name} --disease {spec.id}`"
    if proposals:
        return (
            f"Required columns are missing: {labels}. Proposed: {'; '.join(proposals)}. "
            f"Review the mapping with {command} and save it with --accept (or correct a "
            "column with --column 'HEADER=feature')."
        )
    return (
        f"Required columns are missing: {labels}. Column names and aliases are in the disease "
        f"spec; or say which column is which with {command} --column 'HEADER=feature'."
    )


# A round reads its hospital's file at each step (joining, training, then twice to evaluate
# the served model and the candidate). A file of at most this many rows is kept parsed, in
# memory, for as long as it is unchanged on disk; larger files stream each time, so memory
# never grows with the file.
KEPT_ROWS = 20_000
_KEPT: dict[tuple[Any, ...], tuple[list[tuple[dict[str, Value], int]], IntakeReport]] = {}


def read_rows(
    spec: DiseaseSpec,
    path: Path,
    *,
    drop_columns: set[str] | None = None,
    min_rows: int = 0,
    skip_invalid_rows: bool = False,
    report: IntakeReport | None = None,
    mappings: MappingBook | None = None,
) -> Iterator[tuple[dict[str, Value], int]]:
    """Yield (typed row, label) for every valid row, filling `report` as the file streams by.

    A row with a problem is reported (row and column) and left out of what is yielded; callers
    that must not train on a partly bad file check `report.ok` after the pass. A small file read
    before and unchanged since (same size, modification time and inode) is not parsed again.
    The rows yielded are shared with later reads: callers must not change them. `mappings`
    are the hospital's saved column mappings: the one for this disease and these columns, if
    any, says which column is which and in which unit.
    """
    report = report if report is not None else IntakeReport(spec.id, str(path))
    if spec.categorical and not report.class_counts:
        report.class_counts = [0] * spec.outputs
    report.min_rows = min_rows
    report.skip_invalid_rows = skip_invalid_rows
    try:
        stat = path.stat()
    except OSError:
        stat = None
    key = (
        None
        if stat is None
        else (
            spec.id,
            spec.schema_hash,
            str(path.resolve()),
            stat.st_ino,
            stat.st_size,
            stat.st_mtime_ns,
            frozenset(drop_columns or ()),
            json.dumps(
                [
                    m.as_json()
                    for m in (mappings.mappings if mappings else [])
                    if m.disease == spec.id
                ]
            ),
        )
    )
    kept = _KEPT.get(key) if key is not None else None
    if kept is not None:
        rows, seen = kept
        for name in seen.__dataclass_fields__:
            if name not in ("min_rows", "skip_invalid_rows"):
                setattr(report, name, copy.deepcopy(getattr(seen, name)))
        yield from rows
        return
    collected: list[tuple[dict[str, Value], int]] | None = [] if key is not None else None
    for item in _stream_rows(spec, path, drop_columns, report, mappings):
        if collected is not None:
            collected.append(item)
            if len(collected) > KEPT_ROWS:
                collected = None
        yield item
    if collected is not None and key is not None:
        _KEPT.clear()  # one file at a time: a node trains on one
        _KEPT[key] = (collected, copy.deepcopy(report))


def _stream_rows(
    spec: DiseaseSpec,
    path: Path,
    drop_columns: set[str] | None,
    report: IntakeReport,
    mappings: MappingBook | None,
) -> Iterator[tuple[dict[str, Value], int]]:
    handle, report.encoding = open_text(path)
    with handle:
        first_line = handle.readline()
        report.delimiter = sniff_delimiter(first_line)
        header = next(csv.reader([first_line], delimiter=report.delimiter))
        layout = _layout(spec, header, drop_columns or set(), report, mappings)
        sample = _UnitSample(spec, layout)
        report.columns = {f.name: ColumnStats(f.name, f.label, f.type) for f in spec.features}
        category_columns = {
            layout.feature_columns[f.name]
            for f in spec.features
            if f.type == "category" and f.name in layout.feature_columns
        }
        scanner = ValueScanner(header, free_text_allowed=category_columns | layout.dropped)
        reader = csv.reader(handle, delimiter=report.delimiter)
        rows_seen = 0
        for line_number, cells in enumerate(reader, start=2):
            if not cells or not any(cell.strip() for cell in cells):
                continue
            report.rows += 1
            rows_seen += 1
            if len(cells) != len(header):
                report.add_problem(
                    Problem(
                        line_number,
                        None,
                        f"has {len(cells)} cells but the header has {len(header)} (a stray delimiter or quote?)",
                    )
                )
                continue
            if rows_seen <= IDENTIFIER_SAMPLE_ROWS:
                scanner.observe(
                    [cell if i not in layout.dropped else "" for i, cell in enumerate(cells)]
                )
                sample.observe(cells)
                if rows_seen == IDENTIFIER_SAMPLE_ROWS:
                    report.identifiers.extend(_new_findings(scanner, report))
            row, label, problem = _parse_row(spec, layout, cells, line_number)
            if problem is not None:
                report.add_problem(problem)
                continue
            for name, value in row.items():
                report.columns[name].add(value)
            report.valid_rows += 1
            if report.class_counts:
                report.class_counts[label] += 1
            else:
                report.positives += label
            yield row, label
        if rows_seen < IDENTIFIER_SAMPLE_ROWS:
            report.identifiers.extend(_new_findings(scanner, report))
    if report.rows == 0:
        raise IntakeRefused(f"{path.name} has only a header row: add one row per patient.")
    report.whole_file_problems.extend(sample.doubts(path.name))
    for feature in spec.features:
        stats = report.columns[feature.name]
        if feature.required and report.valid_rows and stats.present == 0:
            column = report.matched.get(feature.name, feature.name)
            report.whole_file_problems.append(
                f"column {column!r}: every value of the required {feature.label} is missing"
            )


class _UnitSample:
    """The first rows' numbers of each measured feature, as written: a median far outside what
    the declared unit makes plausible, and plausible in another unit, is a unit mix-up."""

    def __init__(self, spec: DiseaseSpec, layout: Layout) -> None:
        self.spec = spec
        self.layout = layout
        self.values: dict[str, list[float]] = {
            f.name: []
            for f in spec.features
            if f.type == "number" and f.alternative_units and f.name in layout.feature_columns
        }

    def observe(self, cells: list[str]) -> None:
        for name, values in self.values.items():
            try:
                value = float(self.layout.cell(cells, self.layout.feature_columns[name]))
            except ValueError:
                continue
            if math.isfinite(value) and not (
                value == 0 and self.spec.feature(name).zero_is_missing
            ):
                values.append(value)

    def doubts(self, file_name: str) -> list[str]:
        found = []
        for name, values in self.values.items():
            if not values:
                continue
            feature = self.spec.feature(name)
            median = statistics.median(values)
            declared = self.layout.declared.get(name)
            other = units.looks_like(feature, median, declared)
            if other is None:
                continue
            column = self.layout.header[self.layout.feature_columns[name]]
            found.append(
                f"column {column!r}: its values (median {median:g}) look like {feature.label} in "
                f"{other}, not in {declared or feature.unit}; say which with `medfed node map "
                f"{file_name} --disease {self.spec.id} --unit '{column}={other}' --accept` "
                f"(or put the unit in the header: '{feature.label} ({other})')"
            )
        return found


def _new_findings(scanner: ValueScanner, report: IntakeReport) -> list[IdentifierFinding]:
    known = {f.column for f in report.identifiers}
    return [f for f in scanner.findings() if f.column not in known]


def _parse_row(
    spec: DiseaseSpec,
    layout: Layout,
    cells: list[str],
    line_number: int,
) -> tuple[dict[str, Value], int, Problem | None]:
    for index, cell in enumerate(cells):
        text = cell.strip()
        if index in layout.dropped or not text:
            continue
        if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
            return (
                {},
                0,
                Problem(
                    line_number,
                    layout.header[index],
                    "holds a spreadsheet formula; MedFed never evaluates formulas: replace it with its value",
                ),
            )
        if text.lower() in NON_FINITE:
            return (
                {},
                0,
                Problem(
                    line_number,
                    layout.header[index],
                    f"{text!r} is not a finite number; write a missing value as an empty cell",
                ),
            )
    label = parse_label(spec, cells[layout.target_column])
    if label is None:
        accepted = ", ".join(
            [
                *spec.dataset.target.positive,
                *spec.dataset.target.negative,
                *(c.code for c in spec.dataset.target.classes),
            ]
        )
        return (
            {},
            0,
            Problem(
                line_number,
                layout.header[layout.target_column],
                f"the outcome must be one of {accepted}",
            ),
        )
    row: dict[str, Value] = {}
    for feature in spec.features:
        position = layout.feature_columns.get(feature.name)
        raw: object = layout.cell(cells, position) if position is not None else None
        if position in layout.converters and isinstance(raw, str) and _is_number(raw):
            raw = layout.converters[position].apply(float(raw))
        try:
            row[feature.name] = coerce_value(feature, raw)
        except ValueProblem as problem:
            return (
                {},
                0,
                Problem(
                    line_number,
                    layout.header[position] if position is not None else feature.name,
                    f"{problem}; expected {feature.describe_accepted()}",
                ),
            )
    return row, label, None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def check_file(
    spec: DiseaseSpec,
    path: Path,
    *,
    drop_columns: set[str] | None = None,
    min_rows: int = 0,
    skip_invalid_rows: bool = False,
    mappings: MappingBook | None = None,
) -> IntakeReport:
    """Validate without keeping any row."""
    report = IntakeReport(spec.id, str(path))
    for _ in read_rows(
        spec,
        path,
        drop_columns=drop_columns,
        min_rows=min_rows,
        skip_invalid_rows=skip_invalid_rows,
        report=report,
        mappings=mappings,
    ):
        pass
    return report
