"""The audit log's outside witness: signed checkpoints, where they are read from, and what they prove.

A checkpoint says "row N of the chain had hash H" at a time, in one line a machine reads back:

    opscord-checkpoint v1 row=42 hash=<64 hex> at=2026-03-04T15:23:47Z hmac=<64 hex>

`hmac` is HMAC-SHA256 over the line before it, with `OPSCORD_AUDIT_KEY` — a key from the
environment, never in the database — so someone who can rewrite the database cannot make a
checkpoint for their version of the chain. Opscord posts one to the audit channel on a schedule and
on demand; `audit verify` reads them back from the channel (Discord's REST API, with the bot's token;
only the bot's own messages count) or from files of exported lines, and a checkpoint whose
signature does not check out is reported, never trusted. A chain that no longer has a checkpoint's
row was truncated (or emptied); one whose row carries another hash was rewritten — which the chain
alone cannot show once it was re-hashed end to end.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.store import Store, VerifyResult
from bot.times import utc_timestamp
from integrations.http import HttpClient

LINE = re.compile(r"opscord-checkpoint v1 row=(\d{1,18}) hash=([0-9a-f]{64}) at=([0-9TZ:.+-]{1,40})"
                  r"(?: hmac=([0-9a-f]{64}))?")
PAGES = 10
"""Pages of 100 messages read back from the audit channel: the latest 1,000 messages."""
_DISCORD = "Discord"


def sign(text: str, key: bytes) -> str:
    """HMAC-SHA256 of a checkpoint's text, hex."""
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: row, hash, when, its signature (if signed), and where it was found."""

    row: int
    hash: str
    at: str
    mac: str | None = None
    where: str = ""
    vouched: bool = False
    """Typed in by the operator (`--expect`): trusted as given."""

    @classmethod
    def of(cls, row: int, digest: str, key: bytes | None, at: str | None = None) -> Checkpoint:
        """A new checkpoint of (row, hash), signed when there is a key."""
        made = cls(row, digest, at or utc_timestamp())
        return replace(made, mac=sign(made.text, key)) if key is not None else made

    @property
    def text(self) -> str:
        """What the signature covers."""
        return f"opscord-checkpoint v1 row={self.row} hash={self.hash} at={self.at}"

    @property
    def line(self) -> str:
        """The machine-readable line, as posted and exported."""
        return self.text + (f" hmac={self.mac}" if self.mac else "")

    def signed_by(self, key: bytes) -> bool:
        """Whether the signature is this key's."""
        return self.mac is not None and hmac.compare_digest(sign(self.text, key), self.mac)

    def describe(self) -> str:
        """"the signed checkpoint of 2026-03-04T15:23:47Z (#audit)", for the verdict."""
        if self.vouched:
            return f"the checkpoint given with {self.where}"
        return f"the {'signed' if self.mac else 'unsigned'} checkpoint of {self.at} ({self.where})"


def parse(text: str, where: str) -> list[Checkpoint]:
    """Every checkpoint line in `text` (a message, or a file of exported lines)."""
    return [Checkpoint(int(m[1]), m[2], m[3], m[4], where) for m in LINE.finditer(text)]


def read_files(paths: Iterable[Path]) -> list[Checkpoint]:
    """Checkpoints from files of exported lines (OSError when one cannot be read)."""
    found: list[Checkpoint] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            found += parse(line, f"{path.name}:{number}")
    return found


@dataclass
class Witness:
    """The checkpoints reached, which of them are trusted, and what was noticed on the way."""

    trusted: list[Checkpoint]
    notes: list[str]

    @property
    def latest(self) -> Checkpoint | None:
        """The trusted checkpoint of the highest row (the one that covers the most)."""
        return max(self.trusted, key=lambda c: (c.row, c.at), default=None)


def judge(found: Iterable[Checkpoint], key: bytes | None, notes: list[str] | None = None) -> Witness:
    """Trust what is signed with `key` (or typed in by the operator); report the rest.

    Without a key the signatures cannot be checked: the checkpoints are taken as they are (the bot's
    own messages, or the operator's files) and the verdict says so.
    """
    witness, unchecked = Witness([], list(notes or [])), 0
    for checkpoint in found:
        if checkpoint.vouched:
            witness.trusted.append(checkpoint)
        elif key is None:
            witness.trusted.append(checkpoint)
            unchecked += 1
        elif checkpoint.mac is None:
            witness.notes.append(f"the checkpoint of row {checkpoint.row} in {checkpoint.where} is unsigned: "
                                 "not trusted")
        elif not checkpoint.signed_by(key):
            witness.notes.append(f"the checkpoint of row {checkpoint.row} in {checkpoint.where} has a bad "
                                 "signature: not trusted")
        else:
            witness.trusted.append(checkpoint)
    if unchecked:
        witness.notes.append(f"{unchecked} checkpoint(s) taken without checking a signature "
                             "(OPSCORD_AUDIT_KEY is not set)")
    return witness


async def read_channel(http: HttpClient, base_url: str, token: str, guild_id: int, channel: str | int
                       ) -> list[Checkpoint]:
    """The checkpoints the bot itself posted in the audit channel (its latest 1,000 messages).

    Raises IntegrationError when Discord cannot be reached or refuses, LookupError when the channel
    is not in the guild.
    """
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (opscord, 1) audit-verify"}

    async def get(path: str, what: str, params: dict[str, str] | None = None) -> Any:
        answer = await http.request(_DISCORD, "GET", f"{base_url}{path}", headers=headers, params=params,
                                    retry_safe=True, what=what)
        return answer.json()

    me = str((await get("/users/@me", "bot user lookup"))["id"])
    listed = await get(f"/guilds/{guild_id}/channels", "channel list")
    ref = str(channel).lstrip("#")
    found = next((c for c in listed if str(c.get("id")) == ref or (c.get("type") == 0 and c.get("name") == ref)),
                 None)
    if found is None:
        raise LookupError(f"the audit channel {str(channel)[:40]!r} is not in guild {guild_id}")
    name, checkpoints, before = f"#{found.get('name', found['id'])}", [], None
    for _ in range(PAGES):
        page = await get(f"/channels/{found['id']}/messages", "audit channel history",
                         {"limit": "100", **({"before": before} if before else {})})
        for message in page:
            if str(message.get("author", {}).get("id")) == me:
                checkpoints += parse(str(message.get("content") or ""), name)
        if len(page) < 100:
            break
        before = str(page[-1]["id"])
    return checkpoints


async def against(store: Store, witness: Witness, head: int) -> VerifyResult | None:
    """The first trusted checkpoint the stored chain (verified, `head` rows) no longer matches, as a finding."""
    checkpoints = sorted(witness.trusted, key=lambda c: c.row)
    stored = await store.audit_hashes({c.row for c in checkpoints})
    matched: Checkpoint | None = None
    for checkpoint in (c for c in checkpoints if c.row in stored):
        if stored[checkpoint.row] != checkpoint.hash:
            since = f", after row {matched.row}, which still matches" if matched else ""
            return VerifyResult(head, False, checkpoint.row, f"hash differs from {checkpoint.describe()} (the chain "
                                                             f"was rewritten at or before row {checkpoint.row}{since})")
        matched = checkpoint
    beyond = [c for c in checkpoints if c.row not in stored]
    if beyond:
        widest = max(beyond, key=lambda c: c.row)
        return VerifyResult(head, False, head + 1, f"is missing, but {widest.describe()} covers rows up to "
                                                   f"{widest.row} ({'emptied' if head == 0 else 'truncated'}?)")
    return None


def summary(witness: Witness, head: int) -> list[str]:
    """What the witness vouched for, in a line or two, for an intact chain."""
    latest = witness.latest
    if latest is None:
        return ["witness: none reached; only the chain itself was checked (a chain re-hashed end to end, "
                "truncated or emptied passes that: see README, Verify against the witness)"]
    lines = [f"witness: rows 1 to {latest.row} match {latest.describe()}"
             + (f", and {len(witness.trusted) - 1} earlier checkpoint(s)" if len(witness.trusted) > 1 else "")]
    if head > latest.row:
        lines.append(f"witness: rows {latest.row + 1} to {head} came after the latest checkpoint (not yet witnessed)")
    return lines
