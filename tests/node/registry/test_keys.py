from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from medfed.node.registry.keys import RegistryKeyError, load_or_create


def test_keys_are_made_once_private_and_stable(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path, create=True)
    assert stat.S_IMODE((tmp_path / "registry.key").stat().st_mode) == 0o600
    again = load_or_create(tmp_path, create=True)
    assert again == keys
    assert keys.secure_id("MRN-1") == again.secure_id("MRN-1") != keys.secure_id("MRN-2")
    assert keys.open(keys.seal({"name": "Ada"})) == {"name": "Ada"}


def test_a_secure_id_means_nothing_without_this_nodes_key(tmp_path: Path) -> None:
    here = load_or_create(tmp_path / "a", create=True)
    elsewhere = load_or_create(tmp_path / "b", create=True)
    assert here.secure_id("MRN-1") != elsewhere.secure_id("MRN-1")
    with pytest.raises(RegistryKeyError, match=r"does not open with this node's registry\.key"):
        elsewhere.open(here.seal({"name": "Ada"}))


def test_a_missing_or_damaged_key_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(RegistryKeyError, match=r"missing.*restore the key file"):
        load_or_create(tmp_path, create=False)
    (tmp_path / "registry.key").write_text(json.dumps({"seal": "short", "pseudonym": "00"}))
    with pytest.raises(RegistryKeyError, match="damaged"):
        load_or_create(tmp_path, create=True)
