import math

import pytest

from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.storable import storable_json, storable_text, text_problem


def test_plain_text_is_storable() -> None:
    assert text_problem("Ana López — 東京 🙂") is None
    assert storable_text("subject", "ok") == "ok"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("a\x00b", "NUL"), ("\ud800x", "surrogate")],
)
def test_text_a_database_refuses_names_the_field(value: str, problem: str) -> None:
    with pytest.raises(InvalidField, match=problem) as err:
        storable_text("subject", value)
    assert err.value.field == "subject"


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_json_numbers_must_be_finite(number: float) -> None:
    with pytest.raises(InvalidField) as err:
        storable_json("attributes", {"order": {"value": number}})
    assert err.value.field == "attributes.order.value"


def test_json_keys_and_nested_strings_are_checked() -> None:
    with pytest.raises(InvalidField, match="NUL"):
        storable_json("attributes", {"k\x00": 1})
    with pytest.raises(InvalidField) as err:
        storable_json("attributes", {"items": ["ok", "bad\x00"]})
    assert err.value.field == "attributes.items[1]"
    value = {"a": [1, 2.5, True, None, "x"]}
    assert storable_json("attributes", value) is value
