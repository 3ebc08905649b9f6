"""Patients out of a FHIR Bundle (pure): each Patient's features from its Observations (matched
by LOINC code, or MedFed's own feature code where LOINC has none), a QuestionnaireResponse whose
items are the features, and the Patient's own birth date and gender.

Values in a Quantity are converted from their UCUM unit to the feature's unit; an observation
MedFed cannot read is refused naming the resource, never skipped silently: a missing LOINC
code, a unit that cannot be converted, two values for one feature, a resource type MedFed does
not read. An Observation whose LOINC code no feature of this model uses is left out and said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from medfed.core import units
from medfed.core.catalog import DiseaseSpec, Feature
from medfed.core.errors import InvalidInput

LOINC = "http://loinc.org"
FEATURE_SYSTEM = "urn:medfed:feature"  # MedFed's own code: the feature's name
READ = ("Patient", "Observation", "QuestionnaireResponse")
MAX_ENTRIES = 10_000


@dataclass
class FhirPatient:
    """One patient's raw feature values, where each came from, and what was left out."""

    reference: str  # "Patient/123" (or the fullUrl) as the bundle names it
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # feature -> resource reference
    unused: list[str] = field(default_factory=list)
    conversions: list[str] = field(default_factory=list)

    @property
    def basis(self) -> list[str]:
        return sorted(set(self.sources.values()))


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field="bundle")


def validated(body: dict[str, Any]) -> Any:
    """The body as a fhir.resources R4 Bundle or QuestionnaireResponse (refused if not one)."""
    kind = body.get("resourceType")
    if kind == "QuestionnaireResponse":
        body = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": body}]}
    elif kind != "Bundle":
        raise _refuse(
            f"Expected a FHIR Bundle or QuestionnaireResponse, got resourceType {kind!r}."
        )
    entries = body.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise _refuse(f"Bundle.entry must be a list of at most {MAX_ENTRIES} entries.")
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind not in READ:
            raise _refuse(
                f"Bundle.entry[{index}] is a {kind or 'resource without resourceType'}: MedFed "
                f"reads {', '.join(READ)} only."
            )
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        return Bundle.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise _refuse(f"Not valid FHIR R4: {where}: {first.get('msg')}.") from None


def _reference(entry: Any, resource: Any) -> str:
    if resource.id:
        return f"{resource.get_resource_type()}/{resource.id}"
    if entry.fullUrl:
        return str(entry.fullUrl)
    raise _refuse(
        f"A {resource.get_resource_type()} in the bundle has neither an id nor a fullUrl."
    )


def patients(spec: DiseaseSpec, body: dict[str, Any], today: date) -> list[FhirPatient]:
    """Every patient of the bundle with the raw values of this model's features."""
    bundle = validated(body)
    found: dict[str, FhirPatient] = {}
    records: list[tuple[str, Any]] = []
    for entry in bundle.entry or []:
        resource = entry.resource
        reference = _reference(entry, resource)
        if resource.get_resource_type() == "Patient":
            aliases = {reference, *([str(entry.fullUrl)] if entry.fullUrl else [])}
            patient = FhirPatient(reference)
            _demographics(spec, patient, resource, today)
            for alias in aliases:
                found[alias] = patient
        else:
            records.append((reference, resource))
    for reference, resource in records:
        patient = _subject(found, reference, resource)
        if resource.get_resource_type() == "Observation":
            _observation(spec, patient, reference, resource)
        else:
            _answers(spec, patient, reference, resource)
    unique = list({id(p): p for p in found.values()}.values())
    if not unique:
        raise _refuse("The bundle holds no Patient: add one, and point each Observation at it.")
    return unique


def _subject(found: dict[str, FhirPatient], reference: str, resource: Any) -> FhirPatient:
    subject = resource.subject.reference if resource.subject is not None else None
    if subject is None:
        distinct = {id(p): p for p in found.values()}
        if len(distinct) == 1:
            return next(iter(distinct.values()))
        raise _refuse(f"{reference} has no subject; with several patients, each needs one.")
    patient = found.get(subject)
    if patient is None:
        raise _refuse(f"{reference} is about {subject}, which is not a Patient in the bundle.")
    return patient


def _demographics(spec: DiseaseSpec, patient: FhirPatient, resource: Any, today: date) -> None:
    names = spec.feature_names
    if "age" in names and resource.birthDate is not None:
        born = resource.birthDate
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        patient.values["age"] = age
        patient.sources["age"] = patient.reference
    if "sex" in names and resource.gender in ("female", "male"):
        patient.values["sex"] = resource.gender  # the spec's category aliases read it
        patient.sources["sex"] = patient.reference


def _feature_for(spec: DiseaseSpec, codings: list[Any]) -> tuple[Feature | None, list[str]]:
    """The feature a CodeableConcept's codings name, and every code written (for messages)."""
    written = []
    for coding in codings:
        written.append(f"{coding.system or '?'}|{coding.code or '?'}")
        for feature in spec.features:
            if coding.system == LOINC and coding.code in feature.loinc:
                return feature, written
            if coding.system == FEATURE_SYSTEM and coding.code == feature.name:
                return feature, written
    return None, written


def _observation(spec: DiseaseSpec, patient: FhirPatient, reference: str, resource: Any) -> None:
    codings = list(resource.code.coding or []) if resource.code is not None else []
    feature, written = _feature_for(spec, codings)
    if feature is None:
        if any(c.system in (LOINC, FEATURE_SYSTEM) for c in codings):
            patient.unused.append(f"{reference} ({', '.join(written)}): not used by this model")
            return
        raise _refuse(
            f"{reference} has no LOINC code (its codes: {', '.join(written) or 'none'}). "
            f"Code it with {LOINC} ({_codes(spec)}), or with {FEATURE_SYSTEM} and the feature name."
        )
    _put(patient, feature, _value(feature, reference, resource), reference)


def _answers(spec: DiseaseSpec, patient: FhirPatient, reference: str, resource: Any) -> None:
    for item in resource.item or []:
        feature = next(
            (f for f in spec.features if item.linkId in (f.name, *f.loinc)),
            None,
        )
        if feature is None:
            patient.unused.append(f"{reference} item {item.linkId!r}: not a feature of this model")
            continue
        answers = item.answer or []
        if len(answers) != 1:
            raise _refuse(f"{reference} item {item.linkId!r} needs exactly one answer.")
        _put(
            patient,
            feature,
            _value(feature, f"{reference} item {item.linkId!r}", answers[0]),
            reference,
        )


def _put(
    patient: FhirPatient, feature: Feature, value: tuple[Any, str | None], source: str
) -> None:
    if feature.name in patient.sources and patient.sources[feature.name] != patient.reference:
        raise _refuse(
            f"{patient.reference} has two values for {feature.label}: "
            f"{patient.sources[feature.name]} and {source}. Send one."
        )
    raw, conversion = value
    patient.values[feature.name] = raw
    patient.sources[feature.name] = source
    if conversion:
        patient.conversions.append(f"{feature.label}: {conversion}")


def _value(feature: Feature, where: str, holder: Any) -> tuple[Any, str | None]:
    """A value[x] as the feature takes it (numbers converted to its unit)."""
    quantity = getattr(holder, "valueQuantity", None)
    if quantity is not None:
        if feature.type != "number":
            raise _refuse(f"{where}: {feature.label} is not a measurement; send a coded value.")
        if quantity.value is None:
            raise _refuse(f"{where}: the quantity has no value.")
        declared = quantity.code or quantity.unit
        try:
            conversion = units.conversion(feature, units.from_ucum(declared) if declared else None)
        except units.UnitProblem as problem:
            raise _refuse(f"{where}: {problem}.") from None
        note = None if conversion.identity or not declared else conversion.describe()
        return conversion.apply(float(quantity.value)), note
    for name in ("valueDecimal", "valueInteger"):
        number = getattr(holder, name, None)
        if number is not None:
            return float(number), None
    flag = getattr(holder, "valueBoolean", None)
    if flag is not None:
        return bool(flag), None
    concept = getattr(holder, "valueCodeableConcept", None)
    coding = getattr(holder, "valueCoding", None)
    codes = [coding] if coding is not None else list(concept.coding or []) if concept else []
    if codes:
        return str(codes[0].code or codes[0].display or ""), None
    text = getattr(holder, "valueString", None)
    if text is not None:
        return text, None
    raise _refuse(f"{where}: no value MedFed reads (a Quantity, number, boolean, code or text).")


def _codes(spec: DiseaseSpec) -> str:
    listed = [f"{f.loinc[0]} {f.label}" for f in spec.features if f.loinc]
    return ", ".join(listed) if listed else "this model's features have none"
