"""Model updates as they travel: little-endian float32 vectors, raw (a binary frame's payload,
see core/frames.py) or in base64 (JSON)."""

from __future__ import annotations

import base64

import numpy as np

from medfed.core.errors import InvalidInput


def decode_update(encoded: str | bytes | memoryview, expected_length: int) -> np.ndarray:
    """Little-endian float32 vector (raw bytes, or base64 text) of the expected length: a
    read-only view of the bytes (copied only if misaligned). Its values are checked by
    `fl.rounds.check_update`, in one pass."""
    if isinstance(encoded, str):
        try:
            raw: bytes | memoryview = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise InvalidInput("The update is not valid base64.", field="update") from None
    else:
        raw = encoded
    if len(raw) != expected_length * 4:
        raise InvalidInput(
            f"The update has {len(raw) // 4} values; the base model has {expected_length} parameters.",
            field="update",
        )
    vector = np.frombuffer(raw, dtype="<f4")
    return vector if vector.flags.aligned else vector.copy()
