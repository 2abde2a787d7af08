"""Times as Opscord writes them: the fast spelling says exactly what the strftime spelling said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bot.times import iso, parse_iso, utc_timestamp

moments = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))]))


@given(moments)
def test_iso_is_utc_to_the_millisecond_with_a_z(moment: datetime):
    assert iso(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert abs(parse_iso(iso(moment)) - moment) < timedelta(milliseconds=1)


@given(moments)
def test_utc_timestamp_is_utc_to_the_second_with_a_z(moment: datetime):
    assert utc_timestamp(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
