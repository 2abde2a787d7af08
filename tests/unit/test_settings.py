from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DISCORD_TOKEN", "OPSCORD_CONFIG", "OPSCORD_DB", "DISCORD_API_BASE_URL", "DISCORD_GATEWAY_URL",
                 "LOG_LEVEL", "OPSCORD_HTTP_LISTEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_without_environment():
    s = Settings()
    assert s.discord_token is None
    assert s.opscord_config == Path("opscord.example.toml")
    assert s.log_level == "INFO"
    assert (s.listen_host, s.listen_port) == ("127.0.0.1", 8080)


def test_reads_environment_and_hides_token(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def.secret-token-value")
    monkeypatch.setenv("DISCORD_API_BASE_URL", "http://127.0.0.1:9999/api/v10/")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    s = Settings()
    assert s.discord_token is not None
    assert s.discord_token.get_secret_value() == "abc.def.secret-token-value"
    assert "secret-token-value" not in repr(s) and "secret-token-value" not in str(s.model_dump())
    assert s.discord_api_base_url == "http://127.0.0.1:9999/api/v10"
    assert s.log_level == "DEBUG"


def test_reads_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("OPSCORD_DB=/tmp/x.db\nDISCORD_TOKEN=\n")
    s = Settings()
    assert s.opscord_db == Path("/tmp/x.db")
    assert s.discord_token is None


@pytest.mark.parametrize("value", ["", "changeme", "  "])
def test_placeholder_token_counts_as_unset(monkeypatch, value):
    monkeypatch.setenv("DISCORD_TOKEN", value)
    assert Settings().discord_token is None


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "LOUD"), ("OPSCORD_HTTP_LISTEN", "8080"),
                                             ("DISCORD_GATEWAY_URL", "ftp://x")])
def test_bad_values_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_invalid_settings_are_said_in_plain_words(monkeypatch, capsys, tmp_path):
    import pytest

    from bot.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SystemExit) as exit_:
        main(["policy", "explain", "deploy", "production"])
    assert str(exit_.value) == "opscord: invalid settings: LOG_FORMAT: must be one of 'text' or 'json'"
