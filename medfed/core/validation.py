"""Rules for names people type: usernames, display names, hospital names."""

from __future__ import annotations

import re
import unicodedata

from medfed.core.errors import InvalidInput

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# Letters (any script), digits, spaces and the punctuation real institution names use.
NAME_ALLOWED_PUNCTUATION = set(" .,'&()-/")
NAME_MAX_LENGTH = 120


def normalise_username(username: str) -> str:
    return username.strip().lower()


def validate_username(username: str) -> str:
    value = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(value):
        raise InvalidInput(
            "Usernames are 3-64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            field="username",
        )
    return value


def validate_display_name(name: str, *, field: str = "display_name") -> str:
    return _validate_name(name, field=field, what="Names")


def validate_hospital_name(name: str) -> str:
    return _validate_name(name, field="name", what="Hospital names")


def _validate_name(name: str, *, field: str, what: str) -> str:
    value = " ".join(unicodedata.normalize("NFC", name).split())
    if not 2 <= len(value) <= NAME_MAX_LENGTH:
        raise InvalidInput(f"{what} must be 2-{NAME_MAX_LENGTH} characters long.", field=field)
    bad = sorted({ch for ch in value if not (ch.isalnum() or ch in NAME_ALLOWED_PUNCTUATION)})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise InvalidInput(
            f"{what} may contain letters, digits, spaces and . , ' & ( ) - / only; found {shown}.",
            field=field,
        )
    if "--" in value:
        raise InvalidInput(f"{what} may not contain '--'.", field=field)
    return value
