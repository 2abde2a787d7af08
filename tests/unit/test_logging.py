import logging

from bot.logging_setup import REDACTED, RedactingFilter, configure_logging


def test_redacts_secrets_in_messages_args_and_tracebacks(capsys):
    secret = "MTIzNDU2Nzg5.secret-token-value"
    configure_logging("INFO", [secret])
    log = logging.getLogger("bot.test")
    log.info("connecting with %s", secret)
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError:
        log.exception("login failed")
    err = capsys.readouterr().err
    assert secret not in err and err.count(REDACTED) == 2
    logging.getLogger().handlers.clear()


def test_short_values_are_not_treated_as_secrets():
    f = RedactingFilter(["ab", ""])
    assert f.redact("ab cd") == "ab cd"


def test_every_secret_the_config_names_is_redacted(tmp_path):
    from bot.app import secret_values
    from bot.config import parse_config
    from tests.helpers import example_raw

    raw = example_raw(tmp_path)
    raw["services"][0]["deploy"] = {"provider": "github_actions", "repository": "a/b", "workflow": "d.yml",
                                    "token_env": "GH_TOKEN_FOR_TEST"}
    raw["services"][1]["pager"] = {"routing_key_env": "PD_KEY_FOR_TEST"}
    values = secret_values(parse_config(raw), {"GH_TOKEN_FOR_TEST": "ghp_abcdefgh123", "PD_KEY_FOR_TEST": "R0UT1NGKEY99"})
    assert sorted(values) == ["R0UT1NGKEY99", "ghp_abcdefgh123"]


def test_json_lines_carry_the_bound_ids_and_stay_redacted(capsys):
    import asyncio
    import json

    from bot.logging_setup import bind

    secret = "MTIzNDU2Nzg5.secret-token-value"
    configure_logging("INFO", [secret], "json")
    log = logging.getLogger("bot.test")

    async def handler():
        bind(interaction_id="1234", user_id="42")
        bind(request_id="op-0123456789")

        async def child():  # a task started by the handler (an operation's run) keeps the ids
            log.warning("upstream said Authorization: Bearer abcdefghijklmnop while using %s", secret)

        await asyncio.create_task(child())

    asyncio.run(handler())
    log.info("no ids here")
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError:
        log.exception("login failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    logging.getLogger().handlers.clear()
    first, second, third = lines
    assert set(first) == {"time", "level", "logger", "message", "request_id", "interaction_id", "user_id"}
    assert first["time"].endswith("Z") and first["level"] == "WARNING" and first["logger"] == "bot.test"
    assert (first["request_id"], first["interaction_id"], first["user_id"]) == ("op-0123456789", "1234", "42")
    assert secret not in first["message"] and "abcdefghijklmnop" not in first["message"]
    assert first["message"] == "upstream said Authorization: *** while using [redacted]"
    assert second["request_id"] is None and second["message"] == "no ids here"
    assert "ValueError" in third["exception"] and secret not in third["exception"]


def test_log_format_setting(monkeypatch):
    from bot.settings import Settings

    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert Settings(_env_file=None).log_format == "json"
    assert Settings(_env_file=None, log_format="text").log_format == "text"
