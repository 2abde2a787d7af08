"""Incident names, postmortem times in words, durations, and the seed's lines rendered from stored values."""

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.incident_text import Reach, announcement, duration_words, notified_line, public, resolved_line, when_words
from bot.incidents import duration_text, next_business_day, slugify
from bot.store import Incident

BERLIN = ZoneInfo("Europe/Berlin")


def incident(**changes) -> Incident:
    values = dict(id="inc-20260304-payment", title="Payment processing failures", severity="sev1",
                  service="payment-service", status="investigating", commander_id="42", commander_name="oncall",
                  thread_id="77", pager_key="inc-20260304-payment", statuspage_id="sp1",
                  created_at="2026-03-04T15:00:00.000Z", resolved_at=None, postmortem_event=None)
    values.update(changes)
    return Incident(**values)


def test_incident_helpers():
    assert slugify("Checkout 500s for EU users!") == "checkout-500s-for-eu-users"
    assert slugify("💥💥") == "incident" and slugify("Ünïcode café") == "unicode-cafe"
    assert len(slugify("x" * 80)) == 40
    friday = datetime(2026, 11, 27, 18, 30, tzinfo=BERLIN)
    assert next_business_day(friday, 14) == datetime(2026, 11, 30, 14, 0, tzinfo=BERLIN)
    assert duration_text(14 * 60) == "14 min" and duration_text(125 * 60) == "2 h 05 min"
    assert duration_words(23 * 60) == "23 minutes" and duration_words(60) == "1 minute"
    assert duration_words(125 * 60) == "2 hours 5 minutes" and duration_words(3600) == "1 hour"
    assert duration_words(10) == "less than a minute"


def test_postmortem_times_in_words():
    wednesday = datetime(2026, 3, 4, 15, 46, tzinfo=BERLIN)
    assert when_words(next_business_day(wednesday, 14), wednesday) == "tomorrow 2 PM"
    friday = datetime(2026, 3, 6, 15, 46, tzinfo=BERLIN)
    assert when_words(next_business_day(friday, 14), friday) == "Monday 2 PM"
    saturday = datetime(2026, 3, 7, 9, 0, tzinfo=BERLIN)
    assert when_words(next_business_day(saturday, 9), saturday) == "Monday 9 AM"
    assert when_words(datetime(2026, 3, 20, 12, 30, tzinfo=BERLIN), wednesday) == "Fri 20 Mar 12:30 PM"


def test_the_seeds_lines():
    reach = Reach(oncall_role_id="9", pager_team="payment-team", status_page=True)
    shown = announcement(incident(), reach).splitlines()
    assert shown[:3] == ["🚨 SEV-1 Incident Created: Payment processing failures",
                         "Incident channel: <#77> · Incident commander: <@42>",
                         "Status page updated: Investigating · PagerDuty notified: payment-team"]
    assert shown[3] == "On call: <@&9> · Service: payment-service · Status: Investigating"
    done = incident(status="resolved", resolved_at="2026-03-04T15:23:00.000Z")
    assert resolved_line(done, reach) == ("✅ Incident resolved after 23 minutes · Duration: 23 min · "
                                          "Status page: Resolved")
    assert announcement(done, reach).splitlines()[-1] == resolved_line(done, reach)


def test_what_was_not_notified_is_said():
    nothing = Reach()
    assert notified_line(incident(pager_key=None, statuspage_id=None), nothing) == (
        "No status page configured · No pager configured")
    failing = Reach(pager_team="ops-team", status_page=True, pager_pending=True, status_pending=True)
    assert notified_line(incident(pager_key=None, statuspage_id=None), failing) == (
        "Status page not updated yet (retrying) · PagerDuty not notified yet: ops-team (retrying)")
    missing = announcement(incident(), Reach(oncall_missing="payment-oncall")).splitlines()[3]
    assert missing.startswith("On call: no role payment-oncall in this server")


def test_text_for_the_status_page_is_plain_and_defused():
    text = public("@everyone <@&1> \u202ehidden\u200b\n**bold** <b>x</b>", 255)
    assert "@everyone" not in text and "<" not in text and "\u202e" not in text and "\n" not in text
    assert "**bold**" in text and len(public("x" * 6000, 255)) == 255
