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
