"""Process settings, read from the environment and `.env` (see `.env.example`).

Built in `main`, never at import time, so tests control the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.store.chain import ChainKey

_PLACEHOLDERS = {"changeme", "your-token-here", "xxx", "token"}
AUDIT_KEY_MIN = 32


class Settings(BaseSettings):
    """Everything the process needs that is not part of the ops config."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = Field(default=None, description="Bot token; unset runs the sandbox.")
    opscord_config: Path = Field(default=Path("opscord.example.toml"), description="Path to the TOML config.")
    opscord_db: Path = Field(default=Path("opscord.db"), description="SQLite database path.")
    opscord_database_url: SecretStr | None = Field(
        default=None, description="postgresql://… — the store for replicas (instead of OPSCORD_DB).")
    opscord_lease_seconds: float = Field(default=5.0, ge=1.0, le=60.0,
                                         description="Leader lease on PostgreSQL: a standby takes over after this.")
    discord_api_base_url: str | None = Field(default=None, description="Override Discord's REST base URL.")
    discord_gateway_url: str | None = Field(default=None, description="Override Discord's gateway URL.")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    log_format: Literal["text", "json"] = Field(default="text", description="text, or json: one object per line.")
    opscord_http_listen: str = Field(default="127.0.0.1:8080", description="host:port for health/metrics.")
    opscord_audit_key: SecretStr | None = Field(
        default=None, description="HMAC key (32+ characters) that signs audit checkpoints and, with "
        "OPSCORD_AUDIT_KEYED_CHAIN, every audit row; never stored in the database.")
    opscord_audit_keyed_chain: bool = Field(
        default=False, description="MAC every new audit row with OPSCORD_AUDIT_KEY (a keyed chain).")

    @field_validator("discord_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        """Treat an empty or placeholder token as not set instead of failing at login."""
        if isinstance(value, str) and (not value.strip() or value.strip().lower() in _PLACEHOLDERS):
            return None
        return value

    @field_validator("opscord_database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (leave it empty for SQLite at OPSCORD_DB)")
        return value

    @field_validator("opscord_audit_key", mode="before")
    @classmethod
    def _audit_key(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and (len(value) < AUDIT_KEY_MIN or value.strip().lower() in _PLACEHOLDERS):
            raise ValueError(f"must be at least {AUDIT_KEY_MIN} characters, e.g. the output of `openssl rand -hex 32`")
        return value

    @field_validator("opscord_audit_keyed_chain")
    @classmethod
    def _keyed_chain_needs_key(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("opscord_audit_key") is None:
            raise ValueError("needs OPSCORD_AUDIT_KEY (the key every row's MAC is made with)")
        return value

    @property
    def audit_key(self) -> bytes | None:
        """The key that signs checkpoints (and MACs rows with a keyed chain)."""
        return self.opscord_audit_key.get_secret_value().encode() if self.opscord_audit_key else None

    @property
    def chain_key(self) -> ChainKey | None:
        """The keyed chain's key, when OPSCORD_AUDIT_KEYED_CHAIN is on."""
        from bot.store.chain import ChainKey

        key = self.audit_key
        return ChainKey(key) if key is not None and self.opscord_audit_keyed_chain else None

    @property
    def database_url(self) -> str | None:
        """The PostgreSQL URL, when the store is PostgreSQL."""
        return self.opscord_database_url.get_secret_value() if self.opscord_database_url else None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("discord_api_base_url", "discord_gateway_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value.rstrip("/")

    @field_validator("opscord_http_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8080")
        return value

    @property
    def listen_host(self) -> str:
        """Host part of the HTTP listen address."""
        return self.opscord_http_listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        """Port part of the HTTP listen address."""
        return int(self.opscord_http_listen.rpartition(":")[2])
