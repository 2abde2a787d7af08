"""The baseline: a bare discord.py bot with Opscord's command shapes that only acknowledges.

It registers the same command names and options as Opscord (so the sync and the option parsing
cost the same), syncs them to one guild and answers every command with a plain message. Nothing
else: no database, no audit, no permission checks. Run as its own process by the bench::

    DISCORD_TOKEN=… DISCORD_API_BASE_URL=… DISCORD_GATEWAY_URL=… BENCH_GUILD_ID=… python -m bot.bench.bare

It imports only discord.py, so its memory is the floor of a discord.py bot.

With ``BENCH_AUDIT_DB=PATH`` it is the *floor* of Opscord's guarantee instead: before each answer it
appends one audit row (who, what, where) through Opscord's own store and waits until the row is
durable — the least any bot that keeps that promise does per command. The bench measures it beside
the bare bot to show how much of Opscord's cost is the promise and how much is the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any, Literal

import discord
import yarl
from discord import app_commands
from discord.ext import commands

Interaction = discord.Interaction[Any]


class _Audit:
    """The floor's one durable audit row per command (None: the bare bot's no work at all)."""

    store: Any = None


async def ack(interaction: Interaction) -> None:
    """The whole of the baseline's work: one plain message as the first response."""
    if _Audit.store is not None:
        await _Audit.store.append(_audit_row(interaction))
    await interaction.response.send_message("ok")


def _audit_row(interaction: Interaction) -> Any:
    """Who ran what, where and when: the fields Opscord's audit row for a command has."""
    from bot.bench.product import Row

    data: dict[str, Any] = dict(interaction.data or {})
    return Row(timestamp=interaction.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), user=f"@{interaction.user.name}",
               command=f"/{data.get('name', '?')}", result="success", channel=str(interaction.channel_id),
               extra={"user_id": str(interaction.user.id), "interaction_id": str(interaction.id)})


@app_commands.command(name="deploy", description="Deploy a version of a service to an environment")
async def deploy(interaction: Interaction, service: str, version: app_commands.Range[str, 1, 64],
                 environment: str, break_glass: app_commands.Range[str, 1, 300] | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@app_commands.command(name="rollback", description="Roll a service back to its previous successful version")
async def rollback(interaction: Interaction, service: str, environment: str,
                   break_glass: app_commands.Range[str, 1, 300] | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@app_commands.command(name="scale", description="Set the number of replicas of a service")
async def scale(interaction: Interaction, service: str, replicas: app_commands.Range[int, 0, 10_000],
                environment: str, break_glass: app_commands.Range[str, 1, 300] | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@app_commands.command(name="migrate", description="Run the database migration of a service")
async def migrate(interaction: Interaction, service: str, environment: str) -> None:
    """Acknowledge."""
    await ack(interaction)


@app_commands.command(name="status", description="Health, versions, locks and recent deploys of a service")
async def status(interaction: Interaction, service: str) -> None:
    """Acknowledge."""
    await ack(interaction)


@app_commands.command(name="logs", description="Recent log lines of a service")
async def logs(interaction: Interaction, service: str, last: str = "1h",
               filter: app_commands.Range[str, 1, 200] | None = None,
               environment: str | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@app_commands.command(name="help", description="What you can do with Opscord here, and what each needs")
async def help_command(interaction: Interaction) -> None:
    """Acknowledge."""
    await ack(interaction)


audit = app_commands.Group(name="audit", description="Query, verify and export the audit trail")
incident = app_commands.Group(name="incident", description="Open, update and resolve incidents")


@audit.command(name="recent", description="Latest audit rows")
async def audit_recent(interaction: Interaction, user: discord.Member | None = None, service: str | None = None,
                       limit: app_commands.Range[int, 1, 25] = 10) -> None:
    """Acknowledge."""
    await ack(interaction)


@audit.command(name="verify", description="Check that the audit hash chain is intact")
async def audit_verify(interaction: Interaction) -> None:
    """Acknowledge."""
    await ack(interaction)


@audit.command(name="checkpoint", description="Post a signed checkpoint of the audit chain to the audit channel now")
async def audit_checkpoint(interaction: Interaction) -> None:
    """Acknowledge."""
    await ack(interaction)


@audit.command(name="export", description="Export the audit trail as JSON lines")
async def audit_export(interaction: Interaction, since: str | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@audit.command(name="dora", description="DORA metrics from Opscord's deploys and incidents")
async def audit_dora(interaction: Interaction, days: app_commands.Range[int, 1, 365] = 30) -> None:
    """Acknowledge."""
    await ack(interaction)


@incident.command(name="create", description="Open an incident: a thread, the on-call pinged, a page, the status page")
async def incident_create(interaction: Interaction, title: app_commands.Range[str, 1, 6000],
                          severity: Literal["sev1", "sev2", "sev3"], service: str | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@incident.command(name="update", description="Post an update to the incident (run it in its thread)")
async def incident_update(interaction: Interaction, text: app_commands.Range[str, 1, 6000],
                          status: Literal["identified", "monitoring"] | None = None) -> None:
    """Acknowledge."""
    await ack(interaction)


@incident.command(name="commander", description="Hand the incident over to another member")
async def incident_commander(interaction: Interaction, member: discord.Member) -> None:
    """Acknowledge."""
    await ack(interaction)


@incident.command(name="timeline", description="The incident's timeline as a Markdown file")
async def incident_timeline(interaction: Interaction) -> None:
    """Acknowledge."""
    await ack(interaction)


@incident.command(name="resolve", description="Resolve the incident and schedule its postmortem")
async def incident_resolve(interaction: Interaction, text: app_commands.Range[str, 1, 6000]) -> None:
    """Acknowledge."""
    await ack(interaction)


COMMANDS: tuple[app_commands.Command[Any, ..., None] | app_commands.Group, ...] = (
    deploy, rollback, scale, migrate, status, logs, help_command, audit, incident)


class BareBot(commands.Bot):
    """The commands above, synced to one guild on every start (as a minimal bot does)."""

    def __init__(self, guild_id: int) -> None:
        """Same intents as Opscord (members), discord.py's defaults otherwise."""
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None)
        self.guild = discord.Object(guild_id)

    async def setup_hook(self) -> None:
        """Register and sync."""
        for command in COMMANDS:
            self.tree.add_command(command, guild=self.guild)
        await self.tree.sync(guild=self.guild)


async def main() -> None:
    """Point discord.py at the emulator named in the environment and run until stopped."""
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE_URL"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    if os.environ.get("BENCH_AUDIT_DB"):
        from bot.bench.product import ProductAudit

        _Audit.store = await ProductAudit.open(Path(os.environ["BENCH_AUDIT_DB"]))
    try:
        async with BareBot(int(os.environ["BENCH_GUILD_ID"])) as bot:
            await bot.start(os.environ["DISCORD_TOKEN"])
    finally:
        if _Audit.store is not None:
            await _Audit.store.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # the bench stops it with SIGINT
        asyncio.run(main())
