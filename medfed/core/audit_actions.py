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
    ROUND_OPENED = "round_opened"
    ROUND_JOINED = "round_joined"
    ROUND_COHORT_FIXED = "round_cohort_fixed"
    ROUND_UPDATE_ACCEPTED = "round_update_accepted"
    ROUND_UPDATE_REJECTED = "round_update_rejected"
    ROUND_AGGREGATED = "round_aggregated"
    ROUND_EVALUATION_REPORTED = "round_evaluation_reported"
    ROUND_DEPLOYED = "round_deployed"
    ROUND_REJECTED = "round_rejected"
    ROUND_FAILED = "round_failed"
    CHALLENGER_SET = "challenger_set"
    CHALLENGER_ENDED = "challenger_ended"
    OUTCOME_RECORDED = "outcome_recorded"
    LEADERBOARD_CHOICE = "leaderboard_choice"
    SECAGG_MESSAGE = "secagg_message"
    SECAGG_STAGE = "secagg_stage"
    CAMPAIGN_STARTED = "campaign_started"
    CAMPAIGN_PAUSED = "campaign_paused"
    CAMPAIGN_RESUMED = "campaign_resumed"
    CAMPAIGN_CANCELLED = "campaign_cancelled"
    CAMPAIGN_FINISHED = "campaign_finished"
    BUFFER_ENABLED = "buffer_enabled"
    BUFFER_DISABLED = "buffer_disabled"
    BUFFER_AGGREGATED = "buffer_aggregated"
    CONTRIBUTION_STALE = "contribution_stale"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
