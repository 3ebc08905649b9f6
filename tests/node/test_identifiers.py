from __future__ import annotations

import pytest

from medfed.node.identifiers import ValueScanner, by_column_name


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("Patient Name", "name"),
        ("DOB", "date"),
        ("e-mail", "e-mail"),
        ("SSN", "social security"),
        ("MRN", "medical record"),
        ("Home Address", "address"),
        ("zip", "postal"),
        ("IP", "IP"),
        ("insurance_id", "health plan"),
        ("Phone Number", "telephone"),
    ],
)
def test_identifier_column_names(column: str, kind: str) -> None:
    found = by_column_name(column)
    assert found is not None and kind in found


@pytest.mark.parametrize(
    "column", ["age", "bmi", "glucose", "chest pain", "thalach", "ca", "sex", "pcv"]
)
def test_clinical_column_names_are_not_identifiers(column: str) -> None:
    assert by_column_name(column) is None


def test_value_scanner_needs_a_real_share_of_matches() -> None:
    scanner = ValueScanner(["a", "b"])
    for i in range(100):
        scanner.observe([f"user{i}@x.org" if i < 10 else "fine", str(i)])
    assert scanner.findings() == []
    for i in range(100):
        scanner.observe([f"user{i}@x.org", str(i)])
    assert [f.column for f in scanner.findings()] == ["a"]
