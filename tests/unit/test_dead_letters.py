from dataclasses import dataclass, field

from ticketrouter.adapters.dead_letters import (
    COPY_HEADER_BYTES,
    COPY_KEY_BYTES,
    COPY_VALUE_BYTES,
    bare_copy,
    dead_letter_copy,
)


@dataclass
class Record:
    value: bytes
    key: bytes | None = b"customer-1"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "contact-events"
    partition: int = 3
    offset: int = 42


def test_a_copy_that_fits_keeps_everything_and_adds_the_reason() -> None:
    record = Record(b'{"oops"', headers=[("content-type", b"application/json")])
    letter = dead_letter_copy(record, "bad_json", "Failed to load JSON")
    assert (letter.key, letter.value) == (b"customer-1", b'{"oops"')
    assert letter.headers == [
        ("content-type", b"application/json"),
        ("dlq-reason", b"bad_json"),
        ("dlq-error", b"Failed to load JSON"),
        ("dlq-source", b"contact-events/3/42"),
    ]


def test_a_copy_too_large_is_cut_to_fit_and_says_how_large_it_was() -> None:
    value = b"x" * 2_000_000
    headers = [("trace", b"t" * 5000)] * 100
    record = Record(value, key=b"k" * 10_000, headers=headers)
    letter = dead_letter_copy(record, "too_large", "2000000 bytes > 262144", budget=1_000_000)
    assert letter.value == value[:COPY_VALUE_BYTES]
    assert letter.key == b"k" * COPY_KEY_BYTES
    marks = dict(letter.headers)
    assert marks["dlq-truncated"] == b"true"
    assert marks["dlq-original-bytes"] == str(2_000_000 + 10_000 + 100 * 5005).encode()
    assert marks["dlq-reason"] == b"too_large"
    kept = [v for k, v in letter.headers if k == "trace"]
    assert kept and all(len(v) == COPY_HEADER_BYTES for v in kept)
    size = len(letter.key or b"") + len(letter.value)
    size += sum(len(k) + len(v) for k, v in letter.headers)
    assert size < 1_000_000


def test_the_error_text_is_bounded() -> None:
    letter = dead_letter_copy(Record(b"{}"), "invalid_value", "e" * 50_000)
    assert len(dict(letter.headers)["dlq-error"]) == 1000


def test_a_bare_copy_keeps_only_the_reason_source_and_a_short_key() -> None:
    letter = dead_letter_copy(Record(b"v" * 100, key=b"k" * 1000, headers=[("a", b"b")]), "r", "d")
    bare = bare_copy(letter)
    assert bare.value == b"" and bare.key == b"k" * 256
    assert [k for k, _ in bare.headers] == [
        "dlq-reason",
        "dlq-error",
        "dlq-source",
        "dlq-truncated",
    ]
