"""The registry at the node: sealed at rest, checked on the way in, whole imports or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.node.registry.store import Registry

DIAGNOSES = "hadm_id,icd_code,icd_version,seq_num\n"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "node")


def _on_disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("registry.db"))


def test_a_patient_is_registered_admitted_and_diagnosed(registry: Registry) -> None:
    ada = registry.register("Ada Lovelace", "MRN-1", 1950, "female")
    assert ada.secure_id.startswith("P-") and len(ada.secure_id) == 18
    registry.admit(ada.secure_id, "1001", "2026-03-14")
    registry.diagnose("1001", "I21.4", 10, 1)
    registry.diagnose("1001", "428.0", 9, 2)
    found, admissions = registry.patient(ada.secure_id.lower())
    assert (found.name, found.admissions, found.diagnoses) == ("Ada Lovelace", 1, 2)
    (stay,) = admissions
    assert stay.admitted_on == "2026-03-14"
    assert [(d.seq_num, d.code.code, d.code.icd10) for d in stay.diagnoses] == [
        (1, "I21.4", "I21.4"),
        (2, "428.0", "I50.9"),
    ]
    assert registry.counts() == {"patients": 1, "admissions": 1, "diagnoses": 2}


def test_search_by_secure_id_or_name(registry: Registry) -> None:
    ada = registry.register("Ada Lovelace", "MRN-1")
    registry.register("Grace Hopper", "MRN-2")
    assert [p.name for p in registry.patients(ada.secure_id[:7])] == ["Ada Lovelace"]
    assert [p.name for p in registry.patients(ada.secure_id[2:9].lower())] == ["Ada Lovelace"]
    assert [p.name for p in registry.patients("hopper")] == ["Grace Hopper"]
    assert len(registry.patients()) == 2


def test_nothing_readable_is_on_disk(registry: Registry, tmp_path: Path) -> None:
    ada = registry.register("Ada Lovelace", "MRN-7781", 1950)
    registry.admit(ada.secure_id, "HADM-55012")
    registry.diagnose("HADM-55012", "E11.65", 10, 1)
    raw = _on_disk(tmp_path / "node")
    # Four bytes or more: three random ciphertext bytes spell "E11" about once in 16 million
    # offsets, which a file of this size reaches now and then.
    for secret in (b"Ada ", b"Lovelace", b"MRN-7781", b"HADM-55012", b"E11.", b"E1165", b"1950"):
        assert secret not in raw
    key = tmp_path / "node" / "registry.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_bad_diagnoses_are_refused_with_the_reason_and_nothing_is_stored(
    registry: Registry,
) -> None:
    ada = registry.register("Ada Lovelace", "MRN-1")
    registry.admit(ada.secure_id, "1001")
    registry.diagnose("1001", "I21.4", 10, 1)
    cases = [
        (("1001", "I99.999", 10, 2), "icd_code", "not in the ICD-10-CM code set"),
        (("1001", "4280", 10, 2), "icd_code", "it is the ICD-9-CM code for"),
        (("2002", "I10", 10, 1), "hadm_id", "admission 2002 is not recorded"),
        (("1001", "I10", 10, 1), "seq_num", "already has a diagnosis at seq_num 1"),
        (("1001", "I10", 10, 0), "seq_num", "between 1 and 999"),
    ]
    for args, field, message in cases:
        with pytest.raises(InvalidInput, match=message) as refused:
            registry.diagnose(*args)
        assert refused.value.field == field
    assert registry.counts()["diagnoses"] == 1


def test_duplicates_and_unknown_patients_are_refused(registry: Registry) -> None:
    ada = registry.register("Ada Lovelace", "MRN-1")
    with pytest.raises(Conflict, match=f"already registered, as {ada.secure_id}"):
        registry.register("Ada L.", "MRN-1")
    registry.admit(ada.secure_id, "1001")
    with pytest.raises(Conflict, match="admission 1001 is already recorded"):
        registry.admit(ada.secure_id, "1001")
    with pytest.raises(NotFound):
        registry.admit("P-0000000000000000", "1002")
    with pytest.raises(InvalidInput, match="not a secure ID"):
        registry.patient("Robert'); DROP TABLE patients;--")
    with pytest.raises(InvalidInput, match="admitted_on must be a date"):
        registry.admit(ada.secure_id, "1003", "14/03/2026")
    with pytest.raises(InvalidInput, match="birth_year"):
        registry.register("Old", "MRN-9", 1700)


def test_an_import_is_whole_or_refused_with_every_problem(registry: Registry) -> None:
    ada = registry.register("Ada Lovelace", "MRN-1")
    registry.admit(ada.secure_id, "1001")
    registry.diagnose("1001", "I21.4", 10, 1)
    bad = DIAGNOSES + "1001,I10,10,2\n1001,E11.9,10,1\n3003,I10,10,1\n1001,I99.999,10,4\n"
    with pytest.raises(InvalidInput) as refused:
        registry.import_diagnoses(bad)
    message = refused.value.message
    assert message.startswith("nothing was imported: line 3: admission 1001 already has")
    assert "line 4: admission 3003 is not recorded" in message
    assert "line 5: I99.999 is not in the ICD-10-CM code set" in message
    assert registry.counts()["diagnoses"] == 1
    report = registry.import_diagnoses(DIAGNOSES + "1001,I10,10,2\n1001,25000,9,3\n")
    assert report.as_dict() == {"diagnoses": 2, "admissions": 1}
    assert registry.counts()["diagnoses"] == 3
