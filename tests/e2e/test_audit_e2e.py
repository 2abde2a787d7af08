"""The real discord.py client logs in to the emulator, syncs its commands, answers /audit."""

import json

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from bot.store.records import SEED_KEYS


async def test_login_sync_and_audit_recent(harness):
    synced = {c["name"] for c in harness.emu.synced_commands(harness.guild_id)}
    assert {"audit", "deploy", "rollback", "scale", "migrate"} <= synced
    assert harness.emu.global_command_puts == 0

    h = await harness.run("dave", "audit recent", {"limit": 5})
    assert h.response_type == 4 and h.responded_at_ms < 3000
    msg = await h.wait_message(timeout=5)
    assert msg.flags & EPHEMERAL_FLAG
    assert msg.embeds[0]["title"] == "Recent audit rows"

    h = await harness.run("dave", "audit export")
    msg = await h.wait_message(timeout=5, predicate=lambda m: bool(m.attachments))
    [attachment] = msg.attachments
    assert attachment["filename"].endswith(".jsonl")
    rows = [json.loads(line) for line in attachment["content"].decode().splitlines()]
    first = rows[0]
    assert tuple(first)[:7] == SEED_KEYS
    assert first["user"] == "@dave" and first["command"] == "/audit recent 5" and first["result"] == "success"
    assert first["channel"] == "#deployments" and first["approved_by"] is None
    assert first["timestamp"].endswith("Z")


async def test_audit_is_denied_without_a_mapped_role(harness):
    no_role = harness.emu.add_member(harness.guild_id, "mallory", roles=[]).id
    harness.users["mallory"] = no_role
    h = await harness.run("mallory", "audit verify")
    msg = await h.wait_message(timeout=5)
    assert msg.flags & EPHEMERAL_FLAG and "You need one of these roles" in msg.content
    rows = await harness.audit_rows()
    assert rows[-1].result == "denied" and rows[-1].user == "@mallory"


async def test_audit_verify_reports_chain(harness):
    await harness.run("dave", "audit recent")
    h = await harness.run("dave", "audit verify")
    msg = await h.wait_message(timeout=5, predicate=lambda m: "chain" in (m.content or ""))
    assert "Audit chain intact: 1 rows" in msg.content


async def test_bad_since_is_a_clear_error(harness):
    h = await harness.run("dave", "audit export", {"since": "last tuesday"})
    msg = await h.wait_message(timeout=5)
    assert "`since` must be an ISO date" in msg.content
    assert (await harness.audit_rows())[-1].result == "invalid"


async def test_member_options_are_audited_by_name(harness):
    await harness.run("dave", "audit recent", {"user": harness.users["alice"], "limit": 3})
    rows = await harness.audit_rows()
    assert rows[-1].command == "/audit recent @alice 3"


async def test_export_over_the_attachment_limit_is_compressed_then_refused(harness, monkeypatch):
    import gzip

    import bot.sandbox.emulator.interactions as emu_interactions
    from bot.store import AuditEntry
    for i in range(40):
        await harness.app.store.append(AuditEntry(user="@x", command=f"/deploy order-service v1.0.{i} staging",
                                                  result="success", extra={"pad": "y" * 200}))
    monkeypatch.setattr(emu_interactions, "ATTACHMENT_SIZE_LIMIT", 4000)
    h = await harness.run("dave", "audit export")
    msg = await h.wait_message(timeout=5, predicate=lambda m: bool(m.attachments))
    [attachment] = msg.attachments
    assert attachment["filename"].endswith(".jsonl.gz")
    assert len(gzip.decompress(attachment["content"]).splitlines()) == 40

    monkeypatch.setattr(emu_interactions, "ATTACHMENT_SIZE_LIMIT", 200)
    h = await harness.run("dave", "audit export")
    msg = await h.wait_message(timeout=5, predicate=lambda m: "limit" in (m.content or ""))
    assert msg.content.startswith("The export (41 audit rows) is ")  # 40 + the first export's row
    assert "over Discord's 200 B limit; narrow it with `since`" in msg.content
    assert (await harness.audit_rows())[-1].result == "invalid"


async def test_dora_in_discord_with_its_chart_on_metrics_and_on_the_cli(harness, capsys):
    import asyncio
    import io
    import struct
    import zlib

    import aiohttp
    from PIL import Image

    from bot.__main__ import main
    from bot.web import StatusServer
    from tests.e2e.test_web_e2e import scrape, value
    from tests.helpers import write_example_config
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.0",
                                              "environment": "production"})
    msg = await h.wait_message(timeout=5)
    await harness.click("bob", msg, "Approve")
    await harness.wait_message(msg.id, "Deploy complete")
    for version in ("v1.0.1", "v1.0.13"):  # staging: one that deploys, one that fails
        h = await harness.run("alice", "deploy", {"service": "order-service", "version": version,
                                                  "environment": "staging"})
        await harness.wait_message((await h.wait_message(timeout=5)).id, "Deploy ")
        await harness.wait_message((await h.wait_message(timeout=5)).id, "failed" if "13" in version else "complete",
                                   timeout=15)
    h = await harness.run("dave", "audit dora", {"days": 7})
    reply = await h.wait_message(timeout=15, predicate=lambda m: bool(m.attachments))
    assert reply.flags & EPHEMERAL_FLAG
    assert reply.content.splitlines() == ["DORA metrics, last 7 days, production:",
                                          "Deployment frequency: 0.14/day (1 deploys)",
                                          "Change failure rate: 0% (0 of 1)",
                                          "Time to restore: n/a (no resolved incidents) (mean of 0 resolved incidents)",
                                          "Lead time for changes: unknown (no provider reported the commit times of "
                                          "these deploys)"]
    [chart] = reply.attachments
    png = chart["content"]
    assert chart["filename"] == "dora-7d.png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    width, height = struct.unpack(">II", png[16:24])
    assert (length, kind, width, height) == (13, b"IHDR", 1000, 700)
    assert zlib.crc32(png[12:29]) == struct.unpack(">I", png[29:33])[0]  # the header chunk is intact
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1000, 700)
    colours = image.getcolors(maxcolors=1_000_000)
    assert len(colours) > 50  # drawn, not one colour
    counts = dict((c, n) for n, c in colours)
    staging, production = (242, 142, 43), (89, 161, 79)  # the 2nd and 3rd environments' colours
    assert counts.get(staging, 0) > 500 and counts.get(production, 0) > 500  # their bars are drawn
    row = (await harness.export())[-1]
    assert row["command"] == "/audit dora 7" and row["result"] == "success" and row["chart_bytes"] == len(png)

    server = StatusServer(harness.bot)
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            samples = await scrape(session, f"http://127.0.0.1:{server.port}")
    finally:
        await server.stop()
    assert value(samples, "opscord_dora_deploys_per_day", environment="production") == 1 / 30
    assert value(samples, "opscord_dora_deploys_per_day", environment="staging") == 2 / 30
    assert value(samples, "opscord_dora_change_failure_rate", environment="staging") == 0.5
    assert ("opscord_dora_lead_time_seconds", (("environment", "production"),)) not in samples  # unknown: absent

    config = write_example_config(harness.tmp_path / "c.toml", harness.tmp_path / "state")
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "dora", "--db", str(harness.tmp_path / "opscord.db"),
                                          "--config", str(config), "--days", "7"])
    assert code == 0 and "Deployment frequency: 0.14/day (1 deploys)" in capsys.readouterr().out
