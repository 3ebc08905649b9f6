"""Domain errors of MedFed, one tree, mapped to HTTP and CLI output in one place each.

    MedFedError
    ├── ConfigurationError          settings are missing or unsafe (CLI and start-up only)
    │   └── DatasetProblem          a public dataset file is missing or altered
    ├── InvalidInput                a value is wrong; names the field          -> 422
    │   ├── MalformedRequest        the body is not parseable at all           -> 400
    │   └── PrivacyTargetUnreachable  no amount of DP-SGD noise certifies that epsilon
    ├── NotFound                    no such object (or not visible to you)     -> 404
    ├── Conflict                    the object already exists / wrong state    -> 409
    ├── AuthenticationFailed        who you are could not be established       -> 401
    │   ├── InvalidCredentials      wrong username or password
    │   ├── TokenInvalid            unknown, forged or revoked token
    │   ├── TokenExpired            the token's lifetime is over
    │   └── EnrollmentRefused       enrollment token unknown, used or expired
    ├── PermissionDenied            you are known but may not do this           -> 403
    │   └── CsrfFailed              a form was posted without a valid CSRF token
    ├── TooManyRequests             slow down; carries retry_after seconds      -> 429
    ├── PayloadTooLarge             the request body exceeds the limit          -> 413
    └── ServiceUnavailable          a dependency (the database) is down         -> 503

Messages are written for the person who reads them: what is wrong and how to fix it.
They never contain secrets.
"""

from __future__ import annotations


class MedFedError(Exception):
    """Base of every error MedFed raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConfigurationError(MedFedError):
    code = "configuration_error"


class DatasetProblem(ConfigurationError):
    code = "dataset_problem"


class InvalidInput(MedFedError):
    code = "invalid_input"


class MalformedRequest(InvalidInput):
    code = "malformed_request"


class PrivacyTargetUnreachable(InvalidInput):
    code = "privacy_target_unreachable"


class NotFound(MedFedError):
    code = "not_found"


class Conflict(MedFedError):
    code = "conflict"


class AuthenticationFailed(MedFedError):
    code = "authentication_failed"


class InvalidCredentials(AuthenticationFailed):
    code = "invalid_credentials"


class TokenInvalid(AuthenticationFailed):
    code = "token_invalid"


class TokenExpired(AuthenticationFailed):
    code = "token_expired"


class EnrollmentRefused(AuthenticationFailed):
    code = "enrollment_refused"


class NodeRevoked(TokenInvalid):
    """An administrator revoked the node: its credential stops working at once."""

    code = "node_revoked"


class CertificateRequired(AuthenticationFailed):
    """Mutual TLS is required and the node presented no client certificate."""

    code = "client_certificate_required"


class PermissionDenied(MedFedError):
    code = "permission_denied"


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


class HospitalInactive(PermissionDenied):
    """The hospital was deactivated: its nodes are refused until it is reactivated."""

    code = "hospital_inactive"


class TooManyRequests(MedFedError):
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, retry_after)


class PayloadTooLarge(MedFedError):
    code = "payload_too_large"


class ServiceUnavailable(MedFedError):
    code = "service_unavailable"


# The one mapping from these errors to HTTP statuses, for the server and the node's local API.
STATUS_BY_ERROR: list[tuple[type[MedFedError], int]] = [
    (MalformedRequest, 400),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (TooManyRequests, 429),
    (PayloadTooLarge, 413),
    (ServiceUnavailable, 503),
]


def status_for(error: MedFedError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500
