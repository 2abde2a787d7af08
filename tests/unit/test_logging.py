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
