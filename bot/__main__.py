"""Entry point: `python -m bot` (also the `opscord` script) and its sub-commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.settings import Settings
from bot.store import OPEN_ERRORS, Store, is_postgres_url, open_store


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        from bot.config_words import plain

        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {plain(e)}" for e in exc.errors())
        raise SystemExit(f"opscord: invalid settings: {problems}") from None


_DB_HELP = "SQLite path or postgresql:// URL (default: OPSCORD_DATABASE_URL, else OPSCORD_DB)"


def _parser() -> argparse.ArgumentParser:
    from bot import __version__

    parser = argparse.ArgumentParser(
        prog="opscord", description="ChatOps for Discord. Without a sub-command: connect to Discord with "
        "DISCORD_TOKEN, or run the local sandbox when it is not set.")
    parser.add_argument("--version", action="version", version=f"opscord {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    init = sub.add_parser("init", help="write a starter opscord.toml and .env into the current directory")
    init.add_argument("--force", action="store_true", help="overwrite opscord.toml and .env if they exist")
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path", type=Path, help="the TOML config, e.g. opscord.toml")
    audit = sub.add_parser("audit", help="verify or export the audit log")
    audit_sub = audit.add_subparsers(dest="audit_cmd", required=True, metavar="COMMAND")
    verify = audit_sub.add_parser(
        "verify", help="check the hash chain against its outside witness",
        description="Exit 0: intact; 1: tampered (the first bad row is named); 2: cannot check. Checkpoints are "
        "read from the audit channel when DISCORD_TOKEN is set, from --checkpoints files and from --expect.")
    verify.add_argument("--db", help=_DB_HELP)
    verify.add_argument("--expect", action="append", default=[], metavar="ROW:HASH",
                        help="a checkpoint (as posted in the audit channel) the chain must still match")
    verify.add_argument("--checkpoints", action="append", default=[], type=Path, metavar="FILE",
                        help="a file of checkpoint lines (`audit checkpoint` output, or copied from the channel)")
    verify.add_argument("--require-witness", action="store_true",
                        help="exit 2 unless a trusted checkpoint was reached")
    verify.add_argument("--since-checkpoint", action="store_true",
                        help="walk only the rows after the latest trusted checkpoint")
    verify.add_argument("--config", type=Path, help="config naming the guild and audit channel (default: "
                        "OPSCORD_CONFIG)")
    checkpoint = audit_sub.add_parser("checkpoint", help="print a signed checkpoint of the chain's head",
                                      description="Verify the chain, then print its head as a checkpoint line "
                                      "signed with OPSCORD_AUDIT_KEY (append it to a file kept elsewhere).")
    checkpoint.add_argument("--db", help=_DB_HELP)
    export = audit_sub.add_parser("export", help="print the audit log as JSON lines")
    export.add_argument("--db", help=_DB_HELP)
    export.add_argument("--since", help="ISO timestamp, e.g. 2026-03-01 or 2026-03-01T12:00:00Z")
    dora_cmd = audit_sub.add_parser("dora", help="DORA metrics from the deploy history and incidents")
    dora_cmd.add_argument("--db", help=_DB_HELP)
    dora_cmd.add_argument("--days", type=int, default=30, help="how many days back (default: 30)")
    dora_cmd.add_argument("--config", type=Path, help="config file (default: OPSCORD_CONFIG)")
    policy = sub.add_parser("policy", help="explain the approval policy")
    policy_sub = policy.add_subparsers(dest="policy_cmd", required=True, metavar="COMMAND")
    explain = policy_sub.add_parser("explain", help="which policy row applies and what it requires")
    explain.add_argument("action", help="deploy, rollback, scale_up, scale_down or migrate")
    explain.add_argument("environment", help="an environment of the config, e.g. production")
    explain.add_argument("--service", help="a service of the catalog (rows may name one)")
    explain.add_argument("--config", type=Path, help="config file (default: OPSCORD_CONFIG)")
    run_op = sub.add_parser("run-op", help="CLI fallback: run an operation through the same pipeline and audit",
                            description="deploy SERVICE VERSION ENVIRONMENT | rollback SERVICE ENVIRONMENT | "
                                        "scale SERVICE REPLICAS ENVIRONMENT | migrate SERVICE ENVIRONMENT")
    run_op.add_argument("words", nargs="+", metavar="ACTION ARGS",
                        help="e.g. deploy order-service v2.4.1 production")
    run_op.add_argument("--phrase", metavar="SERVICE",
                        help="the service name, typed to confirm where the policy row sets confirm_phrase (step-up)")
    approve = sub.add_parser("approve", help="CLI fallback: approve (or confirm) a pending request")
    approve.add_argument("op_id", help="the request id, e.g. op-3f9c2a71be")
    approve.add_argument("--reject", action="store_true", help="reject (or cancel) instead")
    sandbox = sub.add_parser("sandbox", help="the local sandbox: the bot on an emulated Discord, with a console")
    lines = sandbox.add_mutually_exclusive_group()
    lines.add_argument("--script", type=Path, help="read console lines from FILE instead of stdin")
    lines.add_argument("--demo", action="store_true", help="play the built-in walk-through (bot/sandbox/demo.txt)")
    sandbox.add_argument("--config", type=Path, help="config file (default: OPSCORD_CONFIG)")
    sandbox.add_argument("--db", type=Path, help="SQLite database (default: sandbox.db)")
    store = sub.add_parser("store", help="move the store between backends")
    store_sub = store.add_subparsers(dest="store_cmd", required=True)
    copy = store_sub.add_parser("migrate", help="create or upgrade the PostgreSQL schema; with --from, copy a SQLite "
                                "database into it (chain verified)")
    copy.add_argument("--from", dest="source", metavar="sqlite:PATH",
                      help="a SQLite database to copy into PostgreSQL, as sqlite:PATH (without it, only the schema)")
    copy.add_argument("--to", dest="target", metavar="postgresql://…", help="default: OPSCORD_DATABASE_URL")
    bench = sub.add_parser("bench", help="measure Opscord against its baselines (a dev tool; minutes)")
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smaller run, under two minutes")
    size.add_argument("--smoke", action="store_true", help="the smallest run, seconds (proves the harness works)")
    bench.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    bench.add_argument("--rounds", type=int, help="A/B rounds of the latency bursts (default: 5, --quick: 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):  # typed bytes that are no UTF-8 are echoed escaped, not a crash
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except Exception as exc:  # the last resort: one line, never a traceback (unless LOG_LEVEL=DEBUG asks for it)
        if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG":
            raise
        print(f"opscord: {UNEXPECTED} ({_reason(exc)}); LOG_LEVEL=DEBUG shows the traceback", file=sys.stderr)
        return 1


UNEXPECTED = "the command failed unexpectedly"


def _reason(exc: BaseException) -> str:
    """An exception in one scrubbed line (a database URL's password never shows)."""
    from integrations.scrub import scrub

    return " ".join(scrub(f"{type(exc).__name__}: {exc}").split())[:300]


def _run(args: argparse.Namespace) -> int:
    if args.cmd == "init":
        return init_here(args.force)
    if args.cmd == "check-config":
        return check_config(args.path)
    if args.cmd == "audit":
        if args.audit_cmd == "verify":
            return audit_verify(args)
        db_path = _database(args.db)
        if args.audit_cmd == "checkpoint":
            from bot import audit_check

            return asyncio.run(audit_check.checkpoint(db_path, _settings()))
        if args.audit_cmd == "dora":
            return asyncio.run(audit_dora(db_path, args.config or _settings().opscord_config, args.days))
        return asyncio.run(audit_export(db_path, args.since))
    if args.cmd == "policy":
        return policy_explain(args.config or _settings().opscord_config, args.action, args.environment,
                              args.service)
    if args.cmd in ("run-op", "approve"):
        return asyncio.run(fallback(_settings(), args))
    if args.cmd == "sandbox":
        from bot.sandbox import run_sandbox
        from bot.starter import DEMO_SCRIPT

        script = DEMO_SCRIPT if args.demo else args.script
        return run_sandbox(_settings(), script=script, config_path=args.config, db_path=args.db)
    if args.cmd == "store":
        return asyncio.run(store_migrate(args.source, args.target or _settings().database_url))
    if args.cmd == "bench":
        from bot.bench import run as run_bench

        return run_bench(quick=args.quick, smoke=args.smoke, rounds=args.rounds, json_path=args.json)
    return run_bot(_settings())


async def fallback(settings: Settings, args: argparse.Namespace) -> int:
    """`run-op` / `approve`: the pipeline without Discord, acting as the OS account of the real uid."""
    from bot.app import compose, open_foundation
    from bot.config import ConfigError, load_config
    from bot.fallback import (
        ConfigMembers,
        FallbackError,
        NoIncidentRoom,
        cli_actor,
        cli_call,
        decide,
        parse_operation,
        print_line,
        run_operation,
    )

    try:
        config = load_config(settings.opscord_config)
        actor = cli_actor(config)
        parsed = parse_operation(args.words) if args.cmd == "run-op" else None
    except ConfigError as exc:
        print(f"opscord: {settings.opscord_config} is invalid ({len(exc.problems)} problem(s)); run check-config",
              file=sys.stderr)
        return 2
    except FallbackError as exc:
        print(f"opscord: {exc}", file=sys.stderr)
        return 2
    async with open_foundation(settings, config) as base:
        app = compose(base, members=ConfigMembers(config), room=NoIncidentRoom())
        if parsed is not None:
            inp, command = parsed
            return await run_operation(app, inp, cli_call(actor, command), print_line, phrase=args.phrase)
        return await decide(app, args.op_id, actor, args.reject, print_line)


def init_here(force: bool) -> int:
    """Write the starter config and .env into the current directory."""
    from bot.starter import InitError, init

    try:
        written = init(Path.cwd(), force=force)
    except InitError as exc:
        print(f"opscord: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {' and '.join(p.name for p in written)} in {Path.cwd()}.\n"
          "Try it without Discord:   opscord sandbox --demo   (or just: opscord sandbox)\n"
          "Connect to Discord:       set [guild] id and [roles] in opscord.toml, DISCORD_TOKEN in .env,\n"
          "                          then: opscord check-config opscord.toml && opscord")
    return 0


def check_config(path: Path) -> int:
    """Print a summary and return 0, or print every problem (structure, references, roles, placeholders,
    unset secrets — all in one pass) and return 2."""
    from bot.config import ConfigError, parse_config, read_raw
    from bot.config_checks import merged, run_time_problems

    try:
        raw = read_raw(path)
        problems = []
        try:
            config = parse_config(raw)
        except ConfigError as exc:
            problems = exc.problems
        problems = merged(problems, run_time_problems(raw, os.environ))
        if problems:
            raise ConfigError(problems)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(
        f"{path}: OK — guild {config.guild.id}, {len(config.environments)} environments "
        f"({', '.join(e.name for e in config.environments)}), {len(config.services)} services "
        f"({', '.join(s.name for s in config.services)}), {len(config.policy)} policy rows, "
        f"roles: {', '.join(sorted(config.roles))}"
    )
    return 0


def policy_explain(config_path: Path, action: str, environment: str, service: str | None) -> int:
    """Print the matching policy row and what it requires."""
    from bot.config import ACTIONS, ConfigError, load_config
    from bot.pipeline.breakglass import explain as break_glass_explain
    from bot.pipeline.policy import PolicyEngine

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"opscord: {config_path} is invalid ({len(exc.problems)} problem(s)); run check-config",
              file=sys.stderr)
        return 2
    if action not in ACTIONS:
        print(f"opscord: unknown action {action!r}; one of {', '.join(ACTIONS)}", file=sys.stderr)
        return 2
    if config.environment(environment) is None:
        known = ", ".join(e.name for e in config.environments)
        print(f"opscord: unknown environment {environment!r}; one of {known}", file=sys.stderr)
        return 2
    if service is not None and config.service(service) is None:
        print(f"opscord: unknown service {service!r}", file=sys.stderr)
        return 2
    print(PolicyEngine(config.policy, config.freezes, confirm_minutes=config.operations.confirm_minutes)
          .explain(action, environment, service))
    print(break_glass_explain(config.break_glass, action))
    gate = config.health_gate(service or "*", environment) if action == "deploy" else None
    if gate is not None and (service is not None or gate.service == "*"):
        print(f"Health gate: watched for {gate.watch_minutes:g} min after the deploy (every "
              f"{gate.interval_seconds:g} s); if unhealthy: {gate.on_unhealthy}"
              + (", and an incident is opened when none is" if gate.open_incident else "") + ".")
    return 0


def _normalize_since(since: str | None) -> str | None:
    if since is None:
        return None
    from bot.errors import ValidationFailed
    from bot.trail import parse_since

    try:
        return parse_since(since)
    except ValidationFailed:
        raise SystemExit(f"opscord: --since {since[:40]!r} is not an ISO date or timestamp") from None


def _database(value: str | None) -> Path | str:
    """`--db` as given (a path or a postgresql:// URL), else the settings' PostgreSQL URL, else OPSCORD_DB."""
    if value:
        return value if is_postgres_url(value) else Path(value)
    settings = _settings()
    return settings.database_url or settings.opscord_db


async def store_migrate(source: str | None, target: str | None) -> int:
    """`store migrate [--from sqlite:PATH] --to postgresql://…`: the schema; with --from, copy and verify the chain."""
    from bot.store.copy import CopyRefused, copy_sqlite_to_postgres

    if source is not None and not source.startswith("sqlite:"):
        raise SystemExit("opscord: --from must be sqlite:PATH")
    if not target or not is_postgres_url(target):
        raise SystemExit("opscord: --to must be a postgresql:// URL (or set OPSCORD_DATABASE_URL)")
    if source is None:
        store = await _opened(target)
        head = await store.audit_head()
        await store.close()
        print(f"schema up to date; {head[0]} audit rows")
        return 0
    try:
        report = await copy_sqlite_to_postgres(Path(source.removeprefix("sqlite:")), target)
    except CopyRefused as exc:
        print(f"opscord: {exc}", file=sys.stderr)
        return 1
    except OPEN_ERRORS as exc:
        from integrations.scrub import scrub

        print(f"opscord: cannot copy {source} to {scrub(target)}: {_reason(exc)}", file=sys.stderr)
        return 1
    ok = report.verify is not None and report.verify.ok
    print("\n".join(report.lines()), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _is_file(path: Path) -> bool:
    """Whether a file is there (False for a name the system refuses: too long, a loop of links …)."""
    try:
        return path.is_file()
    except OSError:
        return False


async def _opened(db_path: Path | str) -> Store:
    """The store at a SQLite path or a postgresql:// URL; one line saying why not (not a database, refused…)."""
    try:
        return await (open_store(Path(), db_path) if isinstance(db_path, str) else open_store(db_path))
    except OPEN_ERRORS as exc:
        from integrations.scrub import scrub

        raise SystemExit(f"opscord: cannot open the database {scrub(str(db_path))}: {_reason(exc)}") from None


@contextlib.asynccontextmanager
async def _open_store(db_path: Path | str) -> AsyncIterator[Store]:
    if isinstance(db_path, Path) and not await asyncio.to_thread(_is_file, db_path):
        raise SystemExit(f"opscord: no database at {db_path}")
    store = await _opened(db_path)
    try:
        yield store
    finally:
        await store.close()


def audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 with "N rows, chain intact" (and what vouched for it), 1 naming the first bad row, 2 cannot check."""
    from bot import audit_check

    request = audit_check.VerifyRequest(
        expect=audit_check.expected(args.expect), checkpoint_files=args.checkpoints,
        require_witness=args.require_witness, since_checkpoint=args.since_checkpoint, config_path=args.config)
    try:
        settings, db_path = _settings(), _database(args.db)
    except SystemExit as exc:  # invalid settings: nothing can be checked
        print(exc, file=sys.stderr)
        return 2
    return asyncio.run(audit_check.verify(db_path, settings, request))


async def audit_dora(db_path: Path | str, config_path: Path, days: int) -> int:
    """Print the DORA metrics of the last `days` days."""
    from bot.config import ConfigError, load_config
    from bot.dora import dora

    if not 1 <= days <= 3650:
        raise SystemExit("opscord: --days must be between 1 and 3650")
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise SystemExit(f"opscord: {config_path} is invalid ({len(exc.problems)} problem(s)); "
                         "run check-config") from None
    async with _open_store(db_path) as store:
        print("\n".join((await dora(config, store, days)).lines()))
    return 0


async def audit_export(db_path: Path | str, since: str | None) -> int:
    """Print JSON lines in the seed's format."""
    since_norm = _normalize_since(since)
    async with _open_store(db_path) as store:
        async for row in store.audit_rows(since_norm):
            sys.stdout.write(json.dumps(row.export(), ensure_ascii=False) + "\n")
    return 0


def run_bot(settings: Settings) -> int:
    """Connect to Discord with DISCORD_TOKEN; without it, run the local sandbox."""
    if settings.discord_token is None:
        from bot.sandbox import run_sandbox

        return run_sandbox(settings, token_notice=True)
    from bot.app import run

    return asyncio.run(run(settings))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
