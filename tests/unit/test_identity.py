import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketrouter.domain.errors import InvalidField
from ticketrouter.domain.identity import IdentityKind, normalise_identity


def test_email_is_case_and_whitespace_insensitive() -> None:
    a = normalise_identity("email", "  Ana.Lopez@Example.com ")
    b = normalise_identity("EMAIL", "ana.lopez@example.com")
    assert a == b
    assert a.value == "ana.lopez@example.com"


@pytest.mark.parametrize(
    "raw", ["+1 (415) 555-0100", "415-555-0100", "+14155550100", "(415) 555 0100"]
)
def test_phone_numbers_normalise_to_e164(raw: str) -> None:
    assert normalise_identity("phone", raw).value == "+14155550100"


def test_phone_region_comes_from_configuration() -> None:
    assert normalise_identity("phone", "020 7946 0958", "GB").value == "+442079460958"


def test_handles_and_social_are_normalised() -> None:
    assert normalise_identity("chat", "@Ana_L").value == "ana_l"
    assert normalise_identity("social", "Twitter:@AnaL").value == "twitter:anal"
    assert normalise_identity("account", "ac 123-45").value == "AC123-45"


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("fax", "123", "identities.kind"),
        ("email", "not-an-email", "identities.value"),
        ("phone", "hello", "identities.value"),
        ("phone", "12", "identities.value"),
        ("social", "nohandle", "identities.value"),
        ("email", "   ", "identities.value"),
    ],
)
def test_invalid_identities_name_the_field(kind: str, value: str, field: str) -> None:
    with pytest.raises(InvalidField) as err:
        normalise_identity(kind, value)
    assert err.value.field == field


emails = st.emails()


@given(emails)
def test_email_normalisation_is_idempotent(address: str) -> None:
    once = normalise_identity("email", address)
    assert normalise_identity("email", once.value) == once
    assert normalise_identity("email", address.upper()) == once


@given(
    st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True),
    st.sampled_from(["{a}-{b}-{c}", "({a}) {b} {c}", "+1 {a} {b}{c}", "1{a}{b}{c}"]),
)
def test_one_us_number_in_any_format_is_one_identity(digits: str, layout: str) -> None:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    formatted = layout.format(a=a, b=b, c=c)
    result = normalise_identity("phone", formatted)
    assert result.kind is IdentityKind.PHONE
    assert result.value == f"+1{digits}"
