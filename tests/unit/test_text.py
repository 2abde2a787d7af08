"""User text is echoed escaped: no mention syntax, no markdown breakage, no hidden characters."""

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.text import shown, thread_name

HOSTILE = "@everyone @here <@123> <@!45> <@&6> <#7> </deploy:8> ``` **boom** ``` \u202eevil\u200b \u2066x\u2069"


def test_hostile_text_is_defused():
    text = shown(HOSTILE, 500)
    assert "@everyone" not in text and "@here" not in text
    assert not re.search(r"<[@#][!&]?\d+>", text) and "</deploy:8>" not in text
    assert "```" not in text and "\\*\\*boom\\*\\*" in text
    assert not any(ch in text for ch in "\u202e\u2066\u2069") and "evil\u200b" not in text


def test_long_text_is_clipped():
    assert shown("x" * 6000, 100) == "x" * 99 + "…"
    assert len(thread_name("y" * 6000)) == 100


@given(st.text(max_size=300))
def test_nothing_typed_can_mention_or_hide(text):
    out = shown(text, 250)
    assert not re.search(r"(?<!\\)@(everyone|here)", out, re.IGNORECASE)
    assert not re.search(r"<[@#][!&]?\d+>", out)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in out)
    assert "\n" not in out and len(out) <= 2 * 250
