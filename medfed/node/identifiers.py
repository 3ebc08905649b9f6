"""Direct identifiers (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)) found by column name or by value.

Findings name the column and the kind of identifier, never the value.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from medfed.core.coercion import normalise_name

# Normalised column-name fragments and the identifier each one means.
NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("patientname", "a person's name"),
    ("firstname", "a person's name"),
    ("lastname", "a person's name"),
    ("surname", "a person's name"),
    ("fullname", "a person's name"),
    ("givenname", "a person's name"),
    ("forename", "a person's name"),
    ("name", "a person's name"),
    ("address", "a street address"),
    ("street", "a street address"),
    ("zipcode", "a postal code"),
    ("zip", "a postal code"),
    ("postcode", "a postal code"),
    ("postalcode", "a postal code"),
    ("dateofbirth", "a date more precise than a year"),
    ("birthdate", "a date more precise than a year"),
    ("dob", "a date more precise than a year"),
    ("admissiondate", "a date more precise than a year"),
    ("dischargedate", "a date more precise than a year"),
    ("deathdate", "a date more precise than a year"),
    ("date", "a date more precise than a year"),
    ("phone", "a telephone number"),
    ("telephone", "a telephone number"),
    ("mobile", "a telephone number"),
    ("fax", "a fax number"),
    ("email", "an e-mail address"),
    ("mail", "an e-mail address"),
    ("ssn", "a social security number"),
    ("socialsecurity", "a social security number"),
    ("mrn", "a medical record number"),
    ("medicalrecord", "a medical record number"),
    ("patientid", "a medical record number"),
    ("recordnumber", "a medical record number"),
    ("insurance", "a health plan beneficiary number"),
    ("healthplan", "a health plan beneficiary number"),
    ("memberid", "a health plan beneficiary number"),
    ("policynumber", "a health plan beneficiary number"),
    ("account", "an account number"),
    ("acct", "an account number"),
    ("iban", "an account number"),
    ("licence", "a licence or certificate number"),
    ("license", "a licence or certificate number"),
    ("certificate", "a licence or certificate number"),
    ("vehicle", "a vehicle identifier"),
    ("plate", "a vehicle identifier"),
    ("vin", "a vehicle identifier"),
    ("device", "a device identifier"),
    ("serial", "a device identifier"),
    ("url", "a web address"),
    ("website", "a web address"),
    ("ipaddress", "an IP address"),
    ("ip", "an IP address"),
    ("fingerprint", "a biometric identifier"),
    ("biometric", "a biometric identifier"),
    ("photo", "a photograph"),
)
# Short hints only match the whole normalised name, long ones anywhere in it.
WHOLE_NAME_ONLY = {
    "ip",
    "vin",
    "dob",
    "mrn",
    "ssn",
    "zip",
    "fax",
    "mail",
    "name",
    "date",
    "acct",
    "plate",
    "serial",
}

VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$"), "an e-mail address"),
    (re.compile(r"^\d{3}-\d{2}-\d{4}$"), "a social security number"),
    (re.compile(r"^(https?://|www\.)\S+$", re.I), "a web address"),
    (re.compile(r"^(\d{1,3}\.){3}\d{1,3}$"), "an IP address"),
    (re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T].*)?$"), "a date more precise than a year"),
    (re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}$"), "a date more precise than a year"),
    (
        re.compile(r"^(\+?\d{1,3}[\s.-]?)?\(?\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}$"),
        "a telephone number",
    ),
    (re.compile(r"^(mrn|pid|pt)[-#:]?\d{4,}$", re.I), "a medical record number"),
    (
        re.compile(
            r"^\d+\s+\w+(\s\w+)*\s(street|st|avenue|ave|road|rd|lane|ln|drive|dr|blvd|way)\.?$",
            re.I,
        ),
        "a street address",
    ),
    (re.compile(r"^[A-Z][a-z]+(?:[ '-][A-Z][a-z]+)+$"), "a person's name"),
)
VALUE_SHARE = 0.3  # a column is flagged when this share of its sampled values match one pattern


@dataclass(frozen=True)
class IdentifierFinding:
    column: str
    kind: str
    reason: str  # "column name" or "values"

    def describe(self) -> str:
        how = "its name suggests" if self.reason == "column name" else "its values look like"
        return f"column {self.column!r}: {how} {self.kind}"


def by_column_name(column: str) -> str | None:
    key = normalise_name(column)
    for hint, kind in NAME_HINTS:
        if key == hint or (hint not in WHOLE_NAME_ONLY and hint in key):
            return kind
    return None


class ValueScanner:
    """Counts pattern matches per column over a sample of rows."""

    def __init__(self, columns: list[str], free_text_allowed: set[int] | None = None) -> None:
        self.columns = columns
        # Category columns legitimately hold capitalised words ("Typical Angina").
        self.free_text_allowed = free_text_allowed or set()
        self.seen = Counter[int]()
        self.matches: dict[int, Counter[str]] = {i: Counter() for i in range(len(columns))}

    def observe(self, cells: list[str]) -> None:
        for index, cell in enumerate(cells[: len(self.columns)]):
            text = cell.strip()
            if not text:
                continue
            self.seen[index] += 1
            for pattern, kind in VALUE_PATTERNS:
                if kind == "a person's name" and index in self.free_text_allowed:
                    continue
                if pattern.match(text):
                    self.matches[index][kind] += 1
                    break

    def findings(self) -> list[IdentifierFinding]:
        found = []
        for index, counts in self.matches.items():
            if not counts or not self.seen[index]:
                continue
            kind, hits = counts.most_common(1)[0]
            if hits / self.seen[index] >= VALUE_SHARE:
                found.append(IdentifierFinding(self.columns[index], kind, "values"))
        return found
