"""/audit: query, verify and export the audit trail."""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import OpsBot, app_of
from bot.client.calls import actor_of, invocation_of
from bot.store import AuditRow
from bot.text import shown

_RESULT_ICONS = {"success": "✅", "failed": "❌", "error": "💥", "denied": "⛔", "invalid": "⚠️",
                 "rejected": "🚫", "expired": "⌛", "interrupted": "⚡", "requested": "📝", "locked": "🔒",
                 "approved": "👍", "cancelled": "↩️"}
_NONE = discord.AllowedMentions.none()


def render_row(row: AuditRow) -> str:
    """One audit row as a single embed line."""
    icon = _RESULT_ICONS.get(row.result, "•")
    approved = f" · approved by {shown(row.approved_by, 100)}" if row.approved_by else ""
    duration = f" · {row.duration_seconds:g}s" if row.duration_seconds is not None else ""
    # as typed, but shown escaped: a code span would let a typed backtick out, and with it markdown and mentions
    return f"`#{row.id}` {row.timestamp} {icon} **{row.result}** {shown(row.user, 40)} {shown(row.command, 120)}" \
           f"{approved}{duration}"


def recent_embed(rows: list[AuditRow], title: str) -> discord.Embed:
    """An embed listing rows, trimmed to Discord's description limit."""
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    lines: list[str] = []
    size = 0
    for row in rows:
        line = render_row(row)
        if size + len(line) + 1 > 4000:
            lines.append(f"… {len(rows) - len(lines)} more")
            break
        lines.append(line)
        size += len(line) + 1
    embed.description = "\n".join(lines) if lines else "No audit rows match."
    return embed


@app_commands.guild_only()
class AuditCog(commands.GroupCog, group_name="audit", group_description="Query, verify and export the audit trail"):
    """The /audit command family; the work happens in bot.trail."""

    def __init__(self, app: App) -> None:
        self.app = app
        super().__init__()

    @app_commands.command(name="recent", description="Latest audit rows")
    @app_commands.describe(user="Only this member's commands", service="Only this service",
                           limit="How many rows (1-25)")
    async def recent(
        self,
        interaction: discord.Interaction[Any],
        user: discord.Member | None = None,
        service: str | None = None,
        limit: app_commands.Range[int, 1, 25] = 10,
    ) -> None:
        """Show the latest rows, newest first."""
        member = actor_of(user) if user is not None else None
        rows = await self.app.trail.recent(invocation_of(interaction), member=member, service=service, limit=limit)
        title = "Recent audit rows" + (f" · @{user.name}" if user else "") + (f" · {service}" if service else "")
        await interaction.response.send_message(embed=recent_embed(rows, title), ephemeral=True,
                                                allowed_mentions=_NONE)

    @recent.autocomplete("service")
    async def _service_choices(self, interaction: discord.Interaction[Any], current: str
                               ) -> list[app_commands.Choice[str]]:
        names = [s.name for s in self.app.config.services if current.lower() in s.name]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @app_commands.command(name="verify", description="Check that the audit hash chain is intact")
    async def verify(self, interaction: discord.Interaction[Any]) -> None:
        """Walk the hash chain and report."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        result, (row_id, digest) = await self.app.trail.verify(invocation_of(interaction))
        head = f"; row {row_id} hash `{digest}`" if row_id else ""
        text = f"✅ Audit chain intact: {result.rows} rows{head}." if result.ok else f"❌ Audit chain broken: {result}."
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="checkpoint", description="Post a signed checkpoint of the audit chain to the "
                          "audit channel now")
    async def checkpoint(self, interaction: discord.Interaction[Any]) -> None:
        """The chain's head, signed, in the audit channel: the outside witness `audit verify` checks against."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        note = await self.app.trail.checkpoint_now(invocation_of(interaction))
        posted = isinstance(interaction.client, OpsBot) and await interaction.client.post_checkpoint(note)
        if not posted:
            text = "❌ The audit channel was not found; no checkpoint was posted."
        elif note.checkpoint is None:
            text = note.text
        else:
            text = f"🔏 Posted to the audit channel: row {note.checkpoint.row}, hash `{note.checkpoint.hash}`."
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="export", description="Export the audit trail as JSON lines")
    @app_commands.describe(since="ISO date or time, e.g. 2026-03-01 (default: everything)")
    async def export(self, interaction: discord.Interaction[Any], since: str | None = None) -> None:
        """Attach the rows as a `.jsonl` file in the seed's export format."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        export = await self.app.trail.export(invocation_of(interaction), since, interaction.filesize_limit)
        await interaction.followup.send(f"{export.summary}.", file=discord.File(io.BytesIO(export.data),
                                                                                filename=export.filename),
                                        ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="dora", description="DORA metrics from Opscord's deploys and incidents")
    @app_commands.describe(days="Window in days (default 30)")
    async def dora(self, interaction: discord.Interaction[Any], days: app_commands.Range[int, 1, 365] = 30) -> None:
        """The four keys in words (protected environments) and as a chart of every environment (a PNG)."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # the chart takes a moment to draw
        data, chart = await self.app.trail.dora(invocation_of(interaction), days)
        await interaction.followup.send("\n".join(data.report().lines()), ephemeral=True, allowed_mentions=_NONE,
                                        file=discord.File(io.BytesIO(chart), filename=f"dora-{days}d.png"))


class HelpCog(commands.Cog):
    """/help: what this member may do here, and the policy each command meets."""

    def __init__(self, app: App) -> None:
        self.app = app

    @app_commands.command(name="help", description="What you can do with Opscord here, and what each needs")
    @app_commands.guild_only()
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        """Only the member sees it."""
        lines = await self.app.guide.help(invocation_of(interaction))
        await interaction.response.send_message("\n".join(lines)[:2000], ephemeral=True, allowed_mentions=_NONE)


async def setup(bot: commands.Bot) -> None:
    """Add the /audit family and /help."""
    await bot.add_cog(AuditCog(app_of(bot)))
    await bot.add_cog(HelpCog(app_of(bot)))
