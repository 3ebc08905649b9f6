from __future__ import annotations

import numpy as np
import pytest

from medfed.core import frames
from medfed.core.errors import InvalidInput


def test_a_frame_round_trips_its_header_and_hands_the_vector_back_as_a_view() -> None:
    vector = np.arange(5, dtype="<f4")
    body = frames.pack({"rows": 3, "job_ref": "j1"}, vector.tobytes())
    header, view = frames.unpack(body)
    assert header == {"rows": 3, "job_ref": "j1"}
    assert isinstance(view, memoryview) and view.obj is body  # not a copy
    assert np.array_equal(np.frombuffer(view, dtype="<f4"), vector)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "must start with"),
        (b'{"json": 1}', "must start with"),
        (b"MFv1\xff\xff\x00\x00{}", "runs past"),
        (b"MFv1\x02\x00\x00\x00[]", "JSON object"),
        (b"MFv1\x02\x00\x00\x00\xff\xfe", "not UTF-8 JSON"),
    ],
)
def test_a_bad_frame_is_refused_with_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        frames.unpack(body)
