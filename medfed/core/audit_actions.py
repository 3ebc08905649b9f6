"""Names of audited actions and outcomes: one vocabulary for the whole system."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    ACCESS_DENIED = "access_denied"
    ADMIN_INITIALISED = "admin_initialised"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    HOSPITAL_CREATED = "hospital_created"
    ENROLLMENT_TOKEN_CREATED = "enrollment_token_created"
    NODE_ENROLLED = "node_enrolled"
    AUDIT_VERIFIED = "audit_verified"
    MODEL_VERSION_CREATED = "model_version_created"
    MODEL_ACTIVATED = "model_activated"
    PREDICTION = "prediction"
    CONTRIBUTION_RECEIVED = "contribution_received"
    PRIVACY_SPEND_REPORTED = "privacy_spend_reported"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
