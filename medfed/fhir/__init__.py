"""FHIR R4 at MedFed's edge: patients read from Bundles of Patient and Observation (LOINC coded)
or QuestionnaireResponse resources, and predictions written as RiskAssessment resources. Both
directions are checked with `fhir.resources` (its R4B models: R4's technical correction, the
same wire format for every resource used here)."""
