"""A synthetic inpatient cohort for the comorbidity risk model: admissions with ICD-10-CM
diagnoses at three simulated hospitals, and a risk tier from a stated outcome model.

No public ICU or inpatient dataset may be shipped with MedFed, so this one is made up, in the
open and reproducibly (a fixed seed). What it gets from published figures and what it invents:

* **Condition frequencies.** Each Charlson condition's base prevalence is of the order reported
  for adult hospital discharges (Quan et al., Am J Epidemiol 2011;173(6):676-82, table 2:
  congestive heart failure and chronic pulmonary disease near 10 %, metastatic cancer a few per
  cent, HIV a few per thousand). The exact numbers below are ours.
* **Co-occurrence.** One latent frailty per patient, rising with age, raises every condition's
  odds, so comorbidities cluster the way they do in real patients. Loadings are ours.
* **Hospitals differ (non-IID).** A district general hospital, a tertiary centre with more
  cancer, renal and liver disease, and a care-of-the-elderly hospital with older patients and
  more dementia and heart failure.
* **Codes.** Each present condition is coded with a real ICD-10-CM code for it (checked against
  the code set by the tests), plus a few common codes outside Charlson's list.
* **Outcome model (the labels).** A latent one-year risk: 0.45 per point of the Charlson index,
  0.04 per year of age over 65, 0.06 per diagnosis beyond five, plus Gaussian noise (sd 0.8);
  below 0.4 is Low, below 1.7 Medium, above High. The labels mean "which tier this made-up
  outcome model put the admission in", nothing clinical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medfed.core import charlson

SEED = 20261207
TIERS = ("low", "medium", "high")
LOW_BELOW, MEDIUM_BELOW = 0.4, 1.7

# Base prevalence (probability at average frailty) and how strongly frailty raises it.
PREVALENCE = {
    "myocardial_infarction": (0.05, 0.6),
    "heart_failure": (0.09, 0.9),
    "peripheral_vascular": (0.04, 0.6),
    "cerebrovascular": (0.06, 0.6),
    "dementia": (0.03, 0.8),
    "chronic_pulmonary": (0.10, 0.5),
    "rheumatic": (0.02, 0.3),
    "peptic_ulcer": (0.02, 0.3),
    "liver": (0.03, 0.5),  # mild or, one case in four, moderate to severe
    "diabetes": (0.15, 0.5),  # without or, one case in three, with chronic complication
    "hemiplegia": (0.015, 0.5),
    "renal": (0.06, 0.8),
    "cancer": (0.09, 0.4),  # metastatic in one case in three
    "hiv": (0.003, 0.0),
}

CODES = {
    "myocardial_infarction": ("I21.4", "I21.9", "I25.2", "I21.09"),
    "heart_failure": ("I50.9", "I50.22", "I50.32", "I11.0", "I42.9"),
    "peripheral_vascular": ("I73.9", "I70.0", "I71.4"),
    "cerebrovascular": ("I63.9", "I65.29", "G45.9", "I69.351"),
    "dementia": ("F03.90", "G30.9", "F01.50"),
    "chronic_pulmonary": ("J44.9", "J44.1", "J45.909", "J47.9"),
    "rheumatic": ("M06.9", "M32.9", "M35.3", "M05.79"),
    "peptic_ulcer": ("K25.9", "K26.9", "K27.9"),
    "mild_liver": ("K74.60", "K76.0", "B18.2", "K70.30"),
    "severe_liver": ("K72.90", "I85.00", "K76.6", "K76.7"),
    "diabetes": ("E11.9", "E11.65", "E10.9"),
    "diabetes_complicated": ("E11.22", "E11.40", "E11.319", "E10.22"),
    "hemiplegia": ("G81.91", "G82.20", "G83.9"),
    "renal": ("N18.4", "N18.6", "N18.9", "Z99.2", "I12.0"),
    "cancer": ("C34.90", "C50.919", "C18.9", "C61", "C85.90", "C91.10", "C25.9"),
    "metastatic": ("C78.00", "C79.51", "C77.9", "C78.7", "C79.31"),
    "hiv": ("B20",),
}
# Common inpatient diagnoses outside Charlson's list.
OTHER_CODES = (
    "I10", "E78.5", "N39.0", "J18.9", "K21.9", "F32.9", "E87.1", "D64.9", "R07.9", "E03.9",
    "F17.210", "G47.33", "M81.0", "I48.91", "E66.9", "N17.9", "A41.9", "R53.83", "Z87.891",
)  # fmt: skip


@dataclass(frozen=True)
class Site:
    name: str
    admissions: int
    age_mean: float
    age_sd: float
    shifts: dict[str, float]  # log-odds added to a condition's prevalence here


SITES = (
    Site("district", 1200, 57.0, 18.0, {}),
    Site(
        "tertiary",
        900,
        61.0,
        15.0,
        {"cancer": 0.8, "renal": 0.5, "liver": 0.5, "hiv": 0.8, "hemiplegia": 0.3},
    ),
    Site(
        "elderly_care",
        700,
        76.0,
        9.0,
        {"dementia": 1.0, "heart_failure": 0.5, "cerebrovascular": 0.4, "cancer": -0.3},
    ),
)


@dataclass(frozen=True)
class Admission:
    site: str
    admission_id: str
    age: int
    codes: tuple[str, ...]  # principal diagnosis first
    tier: str

    def features(self) -> dict[str, int]:
        """The comorbidity risk model's inputs for this admission."""
        return {
            "age": self.age,
            "diagnosis_count": len(self.codes),
            **{name: int(flag) for name, flag in charlson.conditions_of(self.codes).items()},
        }


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _present(rng: np.random.Generator, site: Site, frailty: float) -> set[str]:
    present = set()
    for condition, (prevalence, loading) in PREVALENCE.items():
        logit = _logit(prevalence) + loading * frailty + site.shifts.get(condition, 0.0)
        if rng.random() < 1.0 / (1.0 + np.exp(-logit)):
            present.add(condition)
    graver = {"liver": ("severe_liver", 0.25), "diabetes": ("diabetes_complicated", 0.33)}
    for condition, (grave, share) in graver.items():
        if condition in present:
            present.discard(condition)
            milder = "mild_liver" if condition == "liver" else condition
            present.add(grave if rng.random() < share else milder)
    if "cancer" in present and rng.random() < 0.33:
        present.add("metastatic")
        if rng.random() < 0.3:
            present.discard("cancer")  # primary site not coded this admission
    return present


def tier_of(index: int, age: int, diagnoses: int, noise: float) -> str:
    """The stated outcome model: the tier a latent one-year risk falls in."""
    risk = 0.45 * index + 0.04 * (age - 65) + 0.06 * (diagnoses - 5) + noise
    return TIERS[0] if risk < LOW_BELOW else TIERS[1] if risk < MEDIUM_BELOW else TIERS[2]


def generate(seed: int = SEED, sites: tuple[Site, ...] = SITES) -> list[Admission]:
    rng = np.random.default_rng(seed)
    admissions = []
    for site in sites:
        for number in range(site.admissions):
            age = int(np.clip(round(rng.normal(site.age_mean, site.age_sd)), 18, 100))
            frailty = rng.normal(0.0, 1.0) + 0.03 * (age - 65)
            present = _present(rng, site, frailty)
            codes = [str(rng.choice(CODES[c])) for c in sorted(present)]
            others = int(rng.poisson(2.0 + 0.6 * max(frailty, 0.0)))
            picked = rng.choice(len(OTHER_CODES), size=min(others, 8), replace=False)
            codes += [OTHER_CODES[i] for i in sorted(picked)]
            if not codes:
                codes = [str(rng.choice(OTHER_CODES))]
            order = rng.permutation(len(codes))
            ordered = tuple(codes[i] for i in order)
            index = charlson.index(charlson.conditions_of(ordered))
            tier = tier_of(index, age, len(ordered), float(rng.normal(0.0, 0.8)))
            number_text = f"{site.name[:1].upper()}{number + 1:05d}"
            admissions.append(Admission(site.name, number_text, age, ordered, tier))
    return admissions


TARGET = "risk_tier"
FEATURE_COLUMNS = ("age", "diagnosis_count", *charlson.NAMES)


def feature_table(admissions: list[Admission]) -> list[list[str]]:
    """Header and one line per admission: the model's inputs and the tier."""
    lines = [[*FEATURE_COLUMNS, TARGET]]
    for admission in admissions:
        features = admission.features()
        lines.append([*(str(features[c]) for c in FEATURE_COLUMNS), admission.tier])
    return lines


def diagnosis_table(admissions: list[Admission]) -> list[list[str]]:
    """The same admissions' diagnoses in the registry's import shape."""
    lines = [["hadm_id", "icd_code", "icd_version", "seq_num"]]
    for admission in admissions:
        for seq, code in enumerate(admission.codes, start=1):
            lines.append([admission.admission_id, code, "10", str(seq)])
    return lines
