"""ARN parsing: format then parse gives the parts back, and any text is an ARN or InvalidParameter."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ram_middleware.arn import Arn, format_arn, parse_arn
from ram_middleware.errors import InvalidParameter

field = st.text(st.characters(codec="utf-8", exclude_characters=":"), max_size=10)


@settings(max_examples=300)
@given(field.filter(bool), field, field, st.text(st.characters(codec="utf-8"), min_size=1, max_size=20))
@example("OSS", "cn-hangzhou", "1234567890123456", "bucket/dir:with:colons/a.txt")
@example("ram", "", "1", "role/R")
def test_a_formatted_arn_parses_back(service: str, region: str, account: str, relative: str) -> None:
    text = format_arn(service, region, account, relative)
    parsed = parse_arn(text)
    assert parsed == Arn(service.lower(), region, account, relative)
    assert parse_arn(str(parsed)) == parsed


@given(st.lists(st.sampled_from([*"acsACS:*/?", "acs:", "ram", "中", "\x00", " "]), max_size=16).map("".join))
@example("acs:ram::1:")
@example("ACS:x:::y")
def test_any_text_is_an_arn_or_invalid_parameter(text: str) -> None:
    try:
        parsed = parse_arn(text, param="RoleArn")
    except InvalidParameter as refused:
        assert refused.code == "InvalidParameter.RoleArn"
        return
    assert str(parsed).lower() == text.lower()
