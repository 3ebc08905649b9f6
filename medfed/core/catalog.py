"""The disease catalog: one declarative YAML spec per disease in `core/diseases/`.

Adding a disease is adding a spec file: the loaders, models, validation, forms and explanations
are all driven by it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medfed.core.errors import ConfigurationError, NotFound


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(SpecModel):
    code: str
    label: str
    aliases: tuple[str, ...] = ()


class Feature(SpecModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: Literal["number", "category", "boolean"]
    unit: str | None = None
    # Other units EMR exports give this measure in (converted at intake; values that look like
    # one of them while another is declared are flagged), and the molar mass (g/mol) that
    # converts between mass and amount concentrations (mg/dL and mmol/L).
    alternative_units: tuple[str, ...] = ()
    molar_mass: float | None = Field(default=None, gt=0)
    # LOINC codes of the observations that carry this feature (FHIR input), the first preferred.
    loinc: tuple[Annotated[str, Field(pattern=r"^\d{1,7}-\d$")], ...] = ()
    range: tuple[float, float] | None = None
    typical: tuple[float, float] | None = None
    required: bool
    zero_is_missing: bool = False
    aliases: tuple[str, ...] = ()
    help: str
    categories: tuple[Category, ...] = ()
    # What clinical knowledge expects a higher value (or "yes") to do to the risk; a model that
    # learned the opposite says so on its card instead of printing it as advice.
    expected: Literal["raises", "lowers"] | None = None
    # A yes/no finding that is recorded only when present (a coded diagnosis): left out, it is
    # "no", not unknown.
    absent_means_no: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.absent_means_no and self.type != "boolean":
            raise ValueError(f"feature {self.name}: absent_means_no is for yes/no features")
        if self.type == "number" and self.range is None:
            raise ValueError(f"number feature {self.name} needs a range")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"feature {self.name}: range is reversed")
        if self.type == "category" and len(self.categories) < 2:
            raise ValueError(f"category feature {self.name} needs at least two categories")
        return self

    def describe_accepted(self) -> str:
        if self.type == "number" and self.range is not None:
            low, high = _fmt(self.range[0]), _fmt(self.range[1])
            if self.unit == "count":
                return f"a whole number from {low} to {high}"
            unit = f" {self.unit}" if self.unit else ""
            return f"a number from {low} to {high}{unit}"
        if self.type == "category":
            return "one of " + ", ".join(f"{c.code} ({c.label})" for c in self.categories)
        return "yes or no (true/false, 1/0)"


def _fmt(value: float) -> str:
    return f"{value:g}"


class RiskBand(SpecModel):
    name: Literal["low", "moderate", "high"]
    below: float | None = None  # binary outcomes: the probability the band ends at
    class_label: str | None = None  # categorical outcomes: the class this band is; its wording
    # then names the class itself ("Medium comorbidity risk"), so the title is that headline
    wording: str  # "Headline: advice.", e.g. "High risk of diabetes: confirm with testing."

    @property
    def headline(self) -> str:
        return self.wording.partition(":")[0].strip().rstrip(".")

    @property
    def title(self) -> str:
        """The band in words, said once: 'High risk of diabetes', 'Low risk: features typical
        of a benign mass'."""
        level = f"{self.name.capitalize()} risk"
        if self.class_label or self.headline.lower().startswith(level.lower()):
            return self.headline
        return f"{level}: {self.headline[:1].lower()}{self.headline[1:]}"

    @property
    def advice(self) -> str:
        """What to do, as its own sentence; empty when the wording has no advice part."""
        advice = self.wording.partition(":")[2].strip()
        return advice[:1].upper() + advice[1:]


class OutcomeClass(Category):
    """One class of a categorical outcome and how it reads as a risk band."""

    band: Literal["low", "moderate", "high"]
    wording: str  # "Headline: advice.", as for a binary outcome's bands


class TargetSpec(SpecModel):
    """The outcome column: binary (the values meaning positive and negative) or categorical
    (`classes`, in rising order of risk, each with the values that mean it)."""

    column: str
    aliases: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    classes: tuple[OutcomeClass, ...] = ()

    @model_validator(mode="after")
    def _binary_or_categorical(self) -> TargetSpec:
        binary = bool(self.positive or self.negative)
        if self.classes and binary:
            raise ValueError("a target is binary (positive/negative) or has classes, not both")
        if not self.classes and not (self.positive and self.negative):
            raise ValueError("a binary target needs both positive and negative values")
        if self.classes and len(self.classes) < 3:
            raise ValueError("a categorical target needs at least three classes (two: binary)")
        return self


class GroupSpec(SpecModel):
    column: str
    pattern: str


class SplitSpec(SpecModel):
    test_fraction: float = Field(gt=0, lt=1)
    stratify: Literal["target", "target_within_site", "group"]


class DatasetFile(SpecModel):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    url: str | None = None
    site: str | None = None


class DatasetSpec(SpecModel):
    source: str
    files: tuple[DatasetFile, ...]
    header: bool
    columns: tuple[str, ...] | None = None
    drop_columns: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ("?", "")
    drop_incomplete: bool = False  # drop rows missing any feature instead of imputing
    target: TargetSpec
    group: GroupSpec | None = None
    split: SplitSpec

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> DatasetSpec:
        if not self.header and not self.columns:
            raise ValueError("a dataset without a header row needs `columns`")
        if self.split.stratify == "group" and self.group is None:
            raise ValueError("a group split needs `group`")
        return self


class DiseaseSpec(SpecModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str
    positive_label: str = ""  # binary outcomes: both labels and the risk bands are required
    negative_label: str = ""
    # The positive outcome as it reads inside a sentence ("the probability of heart disease").
    outcome: str | None = None
    primary_metric: Literal["roc_auc", "accuracy"] = "roc_auc"
    model_families: tuple[Literal["logistic", "mlp"], ...] = ("logistic", "mlp")
    risk_bands: tuple[RiskBand, ...] = ()  # categorical outcomes: their classes are the bands
    features: tuple[Feature, ...]
    dataset: DatasetSpec
    references: dict[Literal["accuracy", "roc_auc"], float] = Field(default_factory=dict)
    reference_note: str | None = None

    @property
    def condition(self) -> str:
        return self.outcome or self.title.lower()

    @property
    def categorical(self) -> bool:
        return bool(self.dataset.target.classes)

    @property
    def outputs(self) -> int:
        """The model's outputs: one logit for a binary outcome, one per class otherwise."""
        return len(self.dataset.target.classes) if self.categorical else 1

    @property
    def class_labels(self) -> tuple[str, ...]:
        if self.categorical:
            return tuple(c.label for c in self.dataset.target.classes)
        return (self.negative_label, self.positive_label)

    @model_validator(mode="after")
    def _bands_and_names(self) -> DiseaseSpec:
        if not self.categorical:
            if not (self.positive_label and self.negative_label and self.risk_bands):
                raise ValueError(
                    "a binary outcome needs positive_label, negative_label and risk_bands"
                )
            bounds = [band.below for band in self.risk_bands]
            if None in bounds:
                raise ValueError("every risk band of a binary outcome needs `below`")
            if bounds != sorted(bounds) or bounds[-1] <= 1.0:  # type: ignore[type-var,operator]
                raise ValueError("risk bands must be in rising order and the last must cover 1.0")
        elif self.risk_bands:
            raise ValueError("a categorical outcome's classes are its bands: drop risk_bands")
        elif [c.band for c in self.dataset.target.classes] != ["low", "moderate", "high"]:
            raise ValueError(
                "a categorical outcome's classes are, in this order, the low, moderate and high "
                "bands (one each)"
            )
        names = [feature.name for feature in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        return self

    @property
    def feature_names(self) -> frozenset[str]:
        return frozenset(feature.name for feature in self.features)

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise NotFound(f"{self.title} has no feature {name!r}.", field=name)

    def risk_band(self, probability: float) -> RiskBand:
        """A binary outcome's band for P(positive)."""
        for band in self.risk_bands:
            if band.below is not None and probability < band.below:
                return band
        return self.risk_bands[-1]

    @property
    def bands(self) -> tuple[RiskBand, ...]:
        """The bands a prediction can fall in: a categorical outcome's are its classes."""
        if not self.categorical:
            return self.risk_bands
        return tuple(
            RiskBand(name=c.band, wording=c.wording, class_label=c.label)
            for c in self.dataset.target.classes
        )

    def band_named(self, name: str) -> RiskBand:
        """The band a stored prediction was in, by the name it was stored under."""
        for band in self.bands:
            if band.name == name:
                return band
        raise NotFound(f"{self.title} has no risk band {name!r}.", field="risk_band")

    @property
    def schema_hash(self) -> str:
        """Identifies what a model's inputs mean: names, types, categories and missing rules."""
        layout = [
            [f.name, f.type, [c.code for c in f.categories], f.zero_is_missing]
            for f in self.features
        ]
        return hashlib.sha256(json.dumps(layout, separators=(",", ":")).encode()).hexdigest()


def parse_spec(text: str, origin: str) -> DiseaseSpec:
    try:
        return DiseaseSpec.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"Disease spec {origin} is invalid: {exc}") from exc


_extra_folder: list[Path | None] = [None]


def use_spec_folder(folder: Path | None) -> None:
    """Add a network's own disease specs (a folder of YAML files) to the built-in ones."""
    if folder != _extra_folder[0]:
        _extra_folder[0] = folder
        load_catalog.cache_clear()


def _read_specs(entries: list[tuple[str, str]], specs: dict[str, DiseaseSpec]) -> None:
    for name, text in entries:
        spec = parse_spec(text, name)
        if name != f"{spec.id}.yaml":
            raise ConfigurationError(f"Disease spec {name} must be named {spec.id}.yaml.")
        if spec.id in specs:
            raise ConfigurationError(
                f"Disease spec {name}: the id {spec.id!r} is already taken; choose another id."
            )
        specs[spec.id] = spec


@cache
def load_catalog() -> dict[str, DiseaseSpec]:
    """Every built-in spec (the package's `diseases` folder) and any from the configured extra
    folder, keyed by id, in a stable order."""
    folder = resources.files("medfed.core") / "diseases"
    specs: dict[str, DiseaseSpec] = {}
    built_in = sorted(folder.iterdir(), key=lambda item: item.name)
    _read_specs(
        [(e.name, e.read_text(encoding="utf-8")) for e in built_in if e.name.endswith(".yaml")],
        specs,
    )
    extra = _extra_folder[0]
    if extra is not None:
        if not extra.is_dir():
            raise ConfigurationError(
                f"The disease specs folder {extra} does not exist; create it or unset "
                "MEDFED_DISEASE_SPECS_DIR."
            )
        files = sorted(extra.glob("*.yaml"))
        _read_specs([(f.name, f.read_text(encoding="utf-8")) for f in files], specs)
    return specs


def get_disease(disease_id: str) -> DiseaseSpec:
    catalog = load_catalog()
    if disease_id not in catalog:
        raise NotFound(
            f"There is no disease model {disease_id!r}. Known: {', '.join(catalog)}.",
            field="disease",
        )
    return catalog[disease_id]
