"""The formats the witness and the chain rely on: checkpoint lines, their signature, the keyed chain's HMAC,
canonical bodies read back exactly, and SQLite writing a body's first line as Python's json does."""

import hashlib
import hmac
import json
import sqlite3
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.settings import Settings
from bot.store import AuditEntry
from bot.store.chain import HEAD_FIELDS, ChainKey, row_hash, row_of_body, seal
from bot.store.records import INDEXED_KEYS
from bot.witness import Checkpoint, judge, parse

KEY = b"0123456789abcdef0123456789abcdef-key"
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@pytest.mark.parametrize("size", [32, 64, 65, 200])
def test_the_chain_key_is_hmac_sha256(size):
    key = bytes(range(256))[:size]
    digest = hashlib.sha256(b"row").hexdigest()
    assert ChainKey(key).mac(digest) == hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()
    assert "0123" not in repr(ChainKey(KEY))
    with pytest.raises(ValueError, match="32 bytes"):
        ChainKey(b"short")


def test_a_checkpoint_line_reads_back_and_its_signature_covers_every_field():
    made = Checkpoint.of(42, "ab" * 32, KEY, at="2026-03-04T15:23:47Z")
    assert made.line == (f"opscord-checkpoint v1 row=42 hash={'ab' * 32} at=2026-03-04T15:23:47Z "
                         f"hmac={made.mac}")
    [back] = parse(f"🔏 Audit checkpoint …\n`{made.line}`\nTo check …", "#audit")
    assert back == replace(made, where="#audit") and back.signed_by(KEY)
    for changed in (replace(back, row=43), replace(back, hash="cd" * 32), replace(back, at="2026-03-04T15:23:48Z")):
        assert not changed.signed_by(KEY)
    assert not back.signed_by(b"another key, also long enough to use")
    assert parse("opscord-checkpoint v1 row=x hash=zz at=now", "f") == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_to_checkpoints_without_failing(blob):
    for checkpoint in parse(blob, "file"):
        assert len(checkpoint.hash) == 64 and checkpoint.row >= 0


def test_judging_trusts_only_what_the_key_signed():
    good = replace(Checkpoint.of(5, "a" * 64, KEY, at="t"), where="f:2")
    bad = replace(good, hash="b" * 64)
    unsigned = Checkpoint(6, "c" * 64, "t", where="f:1")
    typed = Checkpoint(7, "d" * 64, "", where="--expect", vouched=True)
    witness = judge([good, bad, unsigned, typed], KEY)
    assert witness.trusted == [good, typed] and witness.latest == typed
    assert witness.notes == ["the checkpoint of row 5 in f:2 has a bad signature: not trusted",
                             "the checkpoint of row 6 in f:1 is unsigned: not trusted"]
    blind = judge([good, bad, unsigned], None)
    assert len(blind.trusted) == 3 and "OPSCORD_AUDIT_KEY is not set" in blind.notes[0]


extras = st.dictionaries(
    st.sampled_from([*INDEXED_KEYS, "error", "guild_id", "click", "notes"]),
    st.none() | st.integers() | text | st.lists(text, max_size=2) | st.dictionaries(text, text, max_size=2),
    max_size=6)


@settings(max_examples=150, deadline=None)
@given(extras, text, text, st.none() | text, st.none() | st.floats(allow_nan=False, allow_infinity=False))
def test_a_body_reads_back_as_the_row_it_seals(extra, user, command, approved_by, duration):
    sealed = seal(AuditEntry(user=user, command=command, result="success", approved_by=approved_by,
                             duration_seconds=duration, channel="#c", extra=extra), 7, "e" * 64, ChainKey(KEY))
    assert row_hash(sealed.body) == sealed.row.hash
    assert row_of_body(7, sealed.body, sealed.row.hash, sealed.row.mac) == sealed.row
    first = sealed.body.split(b"\n", 1)[0].decode()
    conn = sqlite3.connect(":memory:")
    values = dict(zip(HEAD_FIELDS, json.loads(first), strict=True))
    rendered = conn.execute(f"SELECT json_array({', '.join('?' * len(HEAD_FIELDS))})",
                            list(values.values())).fetchone()[0]
    assert rendered == first  # what the SQL column check compares is exactly the first line
    conn.close()


def test_a_body_that_names_another_row_or_repeats_a_key_is_refused():
    sealed = seal(AuditEntry(user="@a", command="/x", result="success", extra={"service": "s"}), 3, "0" * 64)
    with pytest.raises(ValueError, match="row 3's"):
        row_of_body(4, sealed.body, sealed.row.hash, None)
    with pytest.raises(ValueError, match="duplicate key 'channel'"):
        row_of_body(3, sealed.body.replace(b'"channel":', b'"channel":"#y","channel":'), "", None)
    with pytest.raises(ValueError, match="says an indexed value twice"):
        row_of_body(3, sealed.body.replace(b'"extra":{', b'"extra":{"service":"t"'), "", None)


def test_the_audit_key_is_a_real_secret(monkeypatch):
    monkeypatch.setenv("OPSCORD_AUDIT_KEY", "too-short-a-key")
    with pytest.raises(ValidationError, match="at least 32 characters") as caught:
        Settings(_env_file=None)
    assert "too-short-a-key" not in str(caught.value.errors(include_input=False))
    monkeypatch.delenv("OPSCORD_AUDIT_KEY")
    monkeypatch.setenv("OPSCORD_AUDIT_KEYED_CHAIN", "true")
    with pytest.raises(ValidationError, match="needs OPSCORD_AUDIT_KEY"):
        Settings(_env_file=None)
    monkeypatch.setenv("OPSCORD_AUDIT_KEY", "x" * 40)
    settings = Settings(_env_file=None)
    assert settings.audit_key == b"x" * 40 and settings.chain_key is not None and "xxxx" not in repr(settings)
