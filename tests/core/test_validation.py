from __future__ import annotations

import pytest

from medfed.core.errors import InvalidInput
from medfed.core.validation import validate_hospital_name, validate_username


@pytest.mark.parametrize(
    "name",
    ["Cleveland Clinic", "St. Mary's (Basel)", "Hôpital Universitaire de Genève", "VA Long Beach"],
)
def test_real_hospital_names_are_accepted(name: str) -> None:
    assert validate_hospital_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "x'; DROP TABLE users;--",
        'Robert"); --',
        "<script>alert(1)</script>",
        "a",
        "A -- B",
        "x" * 121,
    ],
)
def test_sql_or_markup_looking_names_are_refused_with_the_field(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_hospital_name(name)
    assert caught.value.field == "name"


def test_usernames_are_normalised_and_restricted() -> None:
    assert validate_username("  Alice.Smith ") == "alice.smith"
    for bad in ["al", "alice smith", "admin'--", "x" * 65, "-alice"]:
        with pytest.raises(InvalidInput, match="Usernames"):
            validate_username(bad)
