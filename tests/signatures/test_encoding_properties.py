"""Percent-encoding, query parsing and timestamps agree with their references, and round-trip.

References: the official SDK's encoders (alibabacloud_tea_openapi ``Utils.get_encode_param`` /
``get_encode_path``), the standard library's ``parse_qsl`` for the query syntax, and ``datetime`` for
timestamps written only in ASCII digits, as every SDK writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from alibabacloud_tea_openapi.utils import Utils
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.encoding import (
    encode_pairs,
    format_http_date,
    format_iso8601,
    parse_compact_time,
    parse_http_date,
    parse_iso8601,
    pct,
)
from ram_middleware.facts import decode_component, decode_path, parse_pairs

# Text the SDKs can encode: any Unicode scalar value (no lone surrogate).
text = st.text(st.characters(codec="utf-8"), max_size=20)
# ASCII query text built from what matters to parsing: separators, escapes, "+", ";".
query = st.lists(
    st.sampled_from([*"ab=&+%;~ ", "%2", "%41", "%3D", "%26", "%2B", "%E4%B8%AD", "%FF", "%C3"]), max_size=14
).map("".join)
moments = st.datetimes(datetime(1970, 1, 2), datetime(9998, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300)
@given(text)
@example("a b+c*d~e/f%g中\U0001f600")
def test_pct_is_the_sdks_encoding(value: str) -> None:
    assert pct(value) == Utils.get_encode_param(value)
    assert pct(value, keep_slash=True) == Utils.get_encode_path(value)


@settings(max_examples=300)
@given(text)
def test_decoding_an_encoded_text_gives_it_back(value: str) -> None:
    assert decode_component(pct(value)) == value
    assert decode_path(pct(value, keep_slash=True)) == value


@settings(max_examples=200)
@given(st.lists(st.tuples(text, text), max_size=5))
@example([("", ""), ("a", ""), ("Signature", "x+y/z=")])
def test_parsing_encoded_pairs_gives_them_back(pairs: list[tuple[str, str]]) -> None:
    assert parse_pairs(encode_pairs(pairs)) == tuple(pairs)
    assert parse_pairs(encode_pairs(pairs).encode("ascii")) == tuple(pairs)


@settings(max_examples=300)
@given(query)
@example("a=%FF")
@example("a;b=1")  # ";" is no separator in a query
def test_parse_pairs_agrees_with_the_standard_library(raw: str) -> None:
    try:
        expected = parse_qsl(raw, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        with pytest.raises(errors.InvalidParameter):
            parse_pairs(raw)
        return
    assert list(parse_pairs(raw)) == expected
    assert list(parse_pairs(raw.encode("ascii"))) == expected


@settings(max_examples=200)
@given(moments)
def test_formatted_timestamps_parse_back(moment: datetime) -> None:
    second = moment.replace(microsecond=0)
    assert parse_iso8601(format_iso8601(moment)) == second.timestamp()
    assert parse_compact_time(second.strftime("%Y%m%dT%H%M%SZ")) == second.timestamp()
    assert parse_http_date(format_http_date(moment)) == second.timestamp()


# Digits of other scripts that Python's ``int()`` and ``\d`` take for 0-9 (full-width, Arabic-Indic).
_FOREIGN_DIGITS = {str(d): alt for d, alt in zip(range(10), "０١２٣４٥６٧８٩", strict=True)}


@settings(max_examples=100)
@given(moments, st.data())
@example(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None)
def test_a_timestamp_with_a_digit_that_is_not_ascii_is_refused(moment: datetime, data: st.DataObject) -> None:
    """SDKs write ASCII digits; a timestamp whose digits only int() reads is malformed, as the ISO 8601
    reader already refuses it (an app that reads the header itself would not take it for a date)."""
    for written in (format_iso8601(moment), moment.strftime("%Y%m%dT%H%M%SZ"), format_http_date(moment)):
        positions = [i for i, ch in enumerate(written) if ch.isdigit()]
        at = positions[0] if data is None else data.draw(st.sampled_from(positions))
        foreign = written[:at] + _FOREIGN_DIGITS[written[at]] + written[at + 1 :]
        for parse in (parse_iso8601, parse_compact_time, parse_http_date):
            with pytest.raises(errors.BadTimestamp):
                parse(foreign)


@given(st.text(max_size=40))
@example("Tue, 02 Jan 2024 03:04:05 +9999")
@example("Tue, 02 Jan 99999 03:04:05 GMT")
def test_any_text_is_a_timestamp_or_bad_timestamp(value: str) -> None:
    for parse in (parse_iso8601, parse_compact_time, parse_http_date):
        try:
            seconds = parse(value)
        except errors.BadTimestamp:
            continue
        assert value.isascii() and isinstance(seconds, float)
