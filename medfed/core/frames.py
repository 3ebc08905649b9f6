"""Binary messages: a small JSON header and a raw vector in one request body.

    b"MFv1" | header length (uint32, little-endian) | header (a UTF-8 JSON object) | vector

The sender pads the header with spaces so that the vector starts 64 bytes into a cache line:
read in place, its values are then aligned for SIMD (a float32 vector at an odd offset is read
several times slower).

Updates (little-endian float32) and masked vectors (little-endian uint64) travel this way, sent
as `application/octet-stream`; the receiver reads the vector as a view of the body it already
holds. JSON with the vector in base64 stays accepted, for nodes of earlier releases.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from typing_extensions import Buffer

from medfed.core.errors import InvalidInput

MAGIC = b"MFv1"
CONTENT_TYPE = "application/octet-stream"
MAX_HEADER_BYTES = 64 * 1024
_PREFIX = len(MAGIC) + 4
ALIGNMENT = 64


def pack(header: dict[str, Any], vector: bytes | memoryview) -> bytes:
    encoded = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    encoded += b" " * (-(_PREFIX + len(encoded)) % ALIGNMENT)  # JSON allows trailing spaces
    return b"".join((MAGIC, struct.pack("<I", len(encoded)), encoded, vector))


def unpack(body: Buffer) -> tuple[dict[str, Any], memoryview]:
    """The header and a view of the vector's bytes (not a copy), or a clear refusal. `body` is
    any byte buffer (bytes, bytearray, memoryview, an array's memory)."""
    view = memoryview(body).cast("B")
    if len(view) < _PREFIX or view[: len(MAGIC)] != MAGIC:
        raise InvalidInput(
            "A binary body must start with MedFed's frame (MFv1, the header's length, a JSON "
            "header, then the vector); send JSON with the vector in base64 otherwise."
        )
    (size,) = struct.unpack_from("<I", view, len(MAGIC))
    if size > MAX_HEADER_BYTES or _PREFIX + size > len(view):
        raise InvalidInput(
            f"The frame's header length ({size} bytes) runs past the body or over "
            f"{MAX_HEADER_BYTES} bytes."
        )
    try:
        header = json.loads(bytes(view[_PREFIX : _PREFIX + size]))
    except ValueError:  # not UTF-8 or not JSON
        raise InvalidInput("The frame's header is not UTF-8 JSON.") from None
    if not isinstance(header, dict):
        raise InvalidInput("The frame's header must be a JSON object.")
    return header, view[_PREFIX + size :]
