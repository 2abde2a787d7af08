"""The emulator decides who a new message notifies as Discord does: content mentions filtered by allowed_mentions."""

from bot.sandbox.emulator.mentions import pings


def test_pings_follow_allowed_mentions():
    content = "@everyone <@&5> <@7> <@!8> <#9>"
    assert pings(content, None) == {"everyone": True, "roles": [5], "users": [7, 8]}
    assert pings(content, {"parse": []}) == {"everyone": False, "roles": [], "users": []}
    assert pings(content, {"parse": [], "roles": ["5"]}) == {"everyone": False, "roles": [5], "users": []}
    assert pings(content, {"parse": ["users"], "roles": ["6"]}) == {"everyone": False, "roles": [], "users": [7, 8]}
    assert pings("<@&\u200b5> @\u200beveryone", None) == {"everyone": False, "roles": [], "users": []}
