"""Runs the sandbox: the emulator with the demo guild, the real OpsBot against it, and the console."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from bot.app import App, discord_app, open_foundation, redirect_discord
from bot.client import OpsBot
from bot.config import ConfigError, load_config
from bot.logging_setup import configure_logging
from bot.sandbox.console import Console
from bot.sandbox.editor import ConsoleCompleter, PromptLines, output_above_prompt
from bot.sandbox.emulator import DiscordEmulator
from bot.sandbox.lines import LineSource, ScriptLines, StdinLines
from bot.sandbox.parsing import ConsoleError, parse_line
from bot.sandbox.terminal import restored_terminal
from bot.sandbox.upstreams import SandboxUpstreams
from bot.sandbox.world import DemoWorld, build_world
from bot.settings import Settings

log = logging.getLogger(__name__)

TOKEN_NOTICE = ("DISCORD_TOKEN is not set: running the local sandbox. "  # noqa: S105 - a sentence, not a secret
                "Set it (see .env.example) to connect to Discord.")
DEFAULT_DB = Path("sandbox.db")
EMULATOR_TOKEN = "sandbox-emulator-token"  # noqa: S105 - the local emulator's token, not a secret
READY_TIMEOUT_S = 15.0


class SandboxError(Exception):
    """The sandbox cannot start; the message is the one line shown."""


def say(line: str) -> None:
    """Print one console line at once (the console interleaves with a reader thread)."""
    print(line, flush=True)


def run_sandbox(settings: Settings, *, script: Path | None = None, config_path: Path | None = None,
                db_path: Path | None = None, token_notice: bool = False) -> int:
    """Run the sandbox until quit, end of input or Ctrl-C; returns the exit code."""
    if token_notice:
        say(TOKEN_NOTICE)
    if script is not None and not _exists(script, file=True):
        print(f"opscord sandbox: no script at {script}", file=sys.stderr)
        return 2
    if not _exists(config_path or settings.opscord_config):
        print(f"opscord sandbox: no config at {config_path or settings.opscord_config}: run `opscord init` to write "
              "a starter config here (or pass --config FILE)", file=sys.stderr)
        return 2
    quiet = "log_level" not in settings.model_fields_set
    configure_logging("WARNING" if quiet else settings.log_level, [EMULATOR_TOKEN])
    logging.getLogger("discord.client").addFilter(_not_about_voice)
    logging.getLogger("discord.gateway").addFilter(_not_about_lag)
    if quiet:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_without_traceback)
    terminal = script is None and sys.stdin.isatty() and sys.stdout.isatty()
    source: LineSource = (ScriptLines(script, say) if script is not None
                          else PromptLines(say) if terminal else StdinLines(say))
    if db_path is None and os.environ.get("OPSCORD_DB"):
        # OPSCORD_DB in the environment, on purpose; never .env's, which names the real bot's database
        db_path = settings.opscord_db
    with restored_terminal(), output_above_prompt() if terminal else contextlib.nullcontext():
        try:
            return asyncio.run(_session(settings, config_path or settings.opscord_config, db_path or DEFAULT_DB,
                                        source))
        except KeyboardInterrupt:
            say("")
            return 130 if script is not None else 0
        except SandboxError as exc:
            print(f"opscord sandbox: {exc}", file=sys.stderr)
            return 2


def _exists(path: Path, *, file: bool = False) -> bool:
    """Whether the path (a file, with `file`) is there; False too for a name the system refuses (too long …)."""
    try:
        return path.is_file() if file else path.exists()
    except OSError:
        return False


def _not_about_voice(record: logging.LogRecord) -> bool:
    """Drop discord.py's start-up notes about missing voice libraries: the sandbox has no voice."""
    return "voice will NOT be supported" not in record.getMessage()


def _not_about_lag(record: logging.LogRecord) -> bool:
    """Drop discord.py's "Can't keep up, websocket is N s behind": in the sandbox the emulator shares the
    bot's loop and a provider or a paused terminal makes it lag; it says nothing about the bot."""
    return not record.getMessage().startswith("Can't keep up")


def _without_traceback(record: logging.LogRecord) -> bool:
    """Below ERROR, one line per record: the exception's sentence instead of its traceback."""
    if record.levelno < logging.ERROR and (record.exc_info or record.exc_text):
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
            record.args = None
        record.exc_info, record.exc_text = None, None
    return True


async def _session(settings: Settings, config_path: Path, db_path: Path, source: LineSource) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else "unknown problem"
        raise SandboxError(f"{config_path} is invalid ({len(exc.problems)} problem(s), first: {first}); "
                           f"run: python -m bot check-config {config_path}") from None
    upstreams = SandboxUpstreams()
    await upstreams.start()
    config = upstreams.wire(config)
    emu = DiscordEmulator(EMULATOR_TOKEN)
    world = build_world(emu, config)
    await emu.start()
    redirect_discord(emu.api_base_url, emu.gateway_url)
    sandbox_settings = settings.model_copy(update={
        "discord_token": None, "opscord_config": config_path, "opscord_db": db_path,
        "discord_api_base_url": emu.api_base_url, "discord_gateway_url": emu.gateway_url,
    })
    try:
        async with running_bot(sandbox_settings, world, emu, {**os.environ, **upstreams.environ}) as app:
            console = Console(emu, world, app.store, say)
            if isinstance(source, PromptLines):
                source.use(ConsoleCompleter(console.vocabulary()))
            banner(world, config_path, db_path, say)
            return await console_loop(console, source)
    finally:
        await emu.stop()
        await upstreams.stop()


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, world: DemoWorld, emu: DiscordEmulator,
                      environ: Mapping[str, str] | None = None) -> AsyncIterator[App]:
    """OpsBot built as ``bot.app`` builds it, with the demo guild's config; closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            base = await stack.enter_async_context(open_foundation(settings, world.config, environ))
        except Exception as exc:
            raise SandboxError(f"cannot open the database {settings.opscord_db}: {exc}") from None
        bot = OpsBot(discord_app(base), guild_ready_timeout=0.1)
        task = asyncio.create_task(bot.start(emu.bot_token), name="sandbox-bot")
        try:
            await _wait_started(bot, task)
            yield bot.app
        finally:
            await bot.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task


async def _wait_started(bot: OpsBot, task: asyncio.Task[None]) -> None:
    async def ready() -> None:
        await bot.wait_until_ready()
        await bot.recovered.wait()

    waiter = asyncio.create_task(ready())
    done, _ = await asyncio.wait({waiter, task}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    if waiter in done:
        return
    waiter.cancel()
    if task in done:
        reason = task.exception() if not task.cancelled() else "cancelled"
        raise SandboxError(f"the bot stopped while starting: {reason}")
    raise SandboxError(f"the bot did not connect to the emulator within {READY_TIMEOUT_S:g} s")


def banner(world: DemoWorld, config_path: Path, db_path: Path, out: Callable[[str], None]) -> None:
    """Where things are and how to start."""
    members = ", ".join(f"{name} ({', '.join(roles) or 'no role'})" for name, roles in world.member_roles.items())
    out(f"Opscord sandbox: the real bot on a local Discord. Config {config_path}, database {db_path}.")
    out(f"Guild {world.config.guild.name!r}; channels {' '.join('#' + c for c in world.channels)}")
    out(f"Members: {members}")
    out("Type a slash command (/deploy order-service v2.4.1 staging), `as bob`, `click Approve`, "
        "`messages`, `audit` or `help`; `quit` or Ctrl-D leaves.")


async def console_loop(console: Console, source: LineSource) -> int:
    """Read and act until the end; in a script the first console error stops it (exit 1)."""
    while (line := await source.read(console.prompt)) is not None:
        try:
            action = parse_line(line)
            if action is not None and not await console.execute(action):
                break
        except ConsoleError as exc:
            reason = str(exc)
        except Exception as exc:  # a bug must not end an interactive session
            log.debug("console action %r failed", line, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
        else:
            continue
        say(f"error: {reason}")
        if source.stops_on_error:
            print(f"opscord sandbox: stopped at {source.location}: {reason}", file=sys.stderr)
            return 1
    return 0
