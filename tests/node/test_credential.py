from __future__ import annotations

import stat
from pathlib import Path

import pytest

from medfed.core.errors import ConfigurationError
from medfed.node.credential import NodeCredential, credential_path, load_credential, save_credential

CREDENTIAL = NodeCredential("https://medfed.example.org", 3, 2, "Basel", "mfn_secret-value")


def test_round_trip_with_private_permissions(tmp_path: Path) -> None:
    path = save_credential(tmp_path / "node", CREDENTIAL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credential(tmp_path / "node") == CREDENTIAL
    assert not list((tmp_path / "node").glob(".*.tmp")), "no temporary file is left behind"


def test_repr_hides_the_secret() -> None:
    assert "mfn_secret-value" not in repr(CREDENTIAL)


def test_missing_is_none_and_damaged_is_explained(tmp_path: Path) -> None:
    assert load_credential(tmp_path) is None
    credential_path(tmp_path).write_text("{not json")
    with pytest.raises(ConfigurationError, match="enroll --force"):
        load_credential(tmp_path)
