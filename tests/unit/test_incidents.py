"""Incident names, postmortem times and durations."""


def test_incident_helpers():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.incidents import duration_text, next_business_day, slugify
    assert slugify("Checkout 500s for EU users!") == "checkout-500s-for-eu-users"
    assert slugify("💥💥") == "incident" and slugify("Ünïcode café") == "unicode-cafe"
    assert len(slugify("x" * 80)) == 40
    friday = datetime(2026, 11, 27, 18, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert next_business_day(friday, 14) == datetime(2026, 11, 30, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert duration_text(14 * 60) == "14 min" and duration_text(125 * 60) == "2 h 05 min"
