"""What an operator types wrong at the ``ram`` command: one ``Error: Code: Message`` line, exit status 1."""

from __future__ import annotations

import pytest

from .conftest import Ram, simulate_args


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_simulate_at_a_time_outside_the_calendar_in_utc_is_one_line(ram: Ram, when: str) -> None:
    # Valid ISO 8601, but in UTC a day before year 1 or after year 9999: no acs:CurrentTime to give.
    ram.ok("users", "create", "B")
    result = ram.fails(*simulate_args("B", "oss:GetObject", "acs:oss:*:*:bucket/a", when=when),
                       code="InvalidParameter.Time")  # fmt: skip
    assert "Traceback" not in result.output
    assert "--time must be ISO 8601" in result.stderr
