"""JSON-safe numbers (pure): JSON has no NaN or infinity, and PostgreSQL's JSON refuses them."""

from __future__ import annotations

import math
from typing import Any


def json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """A copy with every non-finite float, at any depth, replaced by None."""
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            cleaned[key] = json_safe(value)
        elif isinstance(value, float) and not math.isfinite(value):
            cleaned[key] = None
        else:
            cleaned[key] = value
    return cleaned
