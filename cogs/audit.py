"""/audit: query, verify and export the audit trail."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.audit import AuditRow
from bot.context import AppContext, context_of
from bot.dora import dora
from bot.errors import ValidationFailed
from bot.interactions import audit_interaction
from bot.permissions import check_access

_RESULT_ICONS = {"success": "✅", "failed": "❌", "error": "💥", "denied": "⛔", "invalid": "⚠️",
                 "rejected": "🚫", "expired": "⌛", "interrupted": "⚡", "requested": "📝", "locked": "🔒",
                 "approved": "👍", "cancelled": "↩️"}
_NONE = discord.AllowedMentions.none()


def render_row(row: AuditRow) -> str:
    """One audit row as a single embed line."""
    icon = _RESULT_ICONS.get(row.result, "•")
    approved = f" · approved by {row.approved_by}" if row.approved_by else ""
    duration = f" · {row.duration_seconds:g}s" if row.duration_seconds is not None else ""
    command = discord.utils.escape_markdown(row.command[:120])
    return f"`#{row.id}` {row.timestamp} {icon} **{row.result}** {row.user} `{command}`{approved}{duration}"


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


def _size(n: int) -> str:
    """Bytes in a unit people read: 512 B, 3.9 KB, 10.0 MB."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def parse_since(text: str) -> str:
    """An ISO date or timestamp → the stored timestamp format; a clear error otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"`since` must be an ISO date or time like 2026-03-01 or 2026-03-01T12:00:00Z, "
                               f"not {text[:40]!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@app_commands.guild_only()
class AuditCog(commands.GroupCog, group_name="audit", group_description="Query, verify and export the audit trail"):
    """The /audit command family."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Only the capabilities `[access].audit` names may use /audit."""
        check_access(self.ctx.authorizer, self.ctx.config, "audit", interaction.user)
        return True

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
        if service is not None and self.ctx.config.service(service) is None:
            raise ValidationFailed(f"Unknown service {service[:60]!r}. Known: "
                                   f"{', '.join(s.name for s in self.ctx.config.services)}.")
        rows = await self.ctx.audit.recent(limit=limit, user=f"@{user.name}" if user else None, service=service)
        title = "Recent audit rows" + (f" · @{user.name}" if user else "") + (f" · {service}" if service else "")
        await interaction.response.send_message(embed=recent_embed(rows, title), ephemeral=True,
                                                allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", rows=len(rows))

    @recent.autocomplete("service")
    async def _service_choices(self, interaction: discord.Interaction[Any], current: str
                               ) -> list[app_commands.Choice[str]]:
        names = [s.name for s in self.ctx.config.services if current.lower() in s.name]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @app_commands.command(name="verify", description="Check that the audit hash chain is intact")
    async def verify(self, interaction: discord.Interaction[Any]) -> None:
        """Walk the hash chain and report."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.ctx.audit.verify()
        row_id, digest = await self.ctx.audit.head()
        head = f"; row {row_id} hash `{digest}`" if row_id else ""
        text = f"✅ Audit chain intact: {result.rows} rows{head}." if result.ok else f"❌ Audit chain broken: {result}."
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", chain_ok=result.ok, rows=result.rows)

    @app_commands.command(name="export", description="Export the audit trail as JSON lines")
    @app_commands.describe(since="ISO date or time, e.g. 2026-03-01 (default: everything)")
    async def export(self, interaction: discord.Interaction[Any], since: str | None = None) -> None:
        """Attach the rows as a `.jsonl` file in the seed's export format."""
        since_norm = parse_since(since) if since else None
        await interaction.response.defer(ephemeral=True, thinking=True)
        buffer = io.StringIO()
        count = 0
        async for row in self.ctx.audit.iter_rows(since_norm):
            buffer.write(json.dumps(row.export(), ensure_ascii=False) + "\n")
            count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        data, name = buffer.getvalue().encode(), f"opscord-audit-{stamp}.jsonl"
        if len(data) > interaction.filesize_limit:  # too big to attach: try it compressed
            data, name = gzip.compress(data), name + ".gz"
        summary = f"{count} audit rows" + (f" since {since_norm}" if since_norm else "")
        if len(data) > interaction.filesize_limit:
            raise ValidationFailed(f"The export ({summary}) is {_size(len(data))} compressed, over Discord's "
                                   f"{_size(interaction.filesize_limit)} limit; narrow it with `since`, or run "
                                   f"`python -m bot audit export` on the Opscord host.")
        await interaction.followup.send(f"{summary}.", file=discord.File(io.BytesIO(data), filename=name),
                                        ephemeral=True, allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", rows=count)


    @app_commands.command(name="dora", description="DORA metrics from Opscord's deploys and incidents")
    @app_commands.describe(days="Window in days (default 30)")
    async def dora(self, interaction: discord.Interaction[Any], days: app_commands.Range[int, 1, 365] = 30) -> None:
        """Deployment frequency, change failure rate, time to restore (protected environments)."""
        report = await dora(self.ctx.config, self.ctx.db, days)
        await interaction.response.send_message("\n".join(report.lines()), ephemeral=True, allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", days=days)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(AuditCog(context_of(bot)))
