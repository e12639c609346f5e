"""One settings object, loaded once at start-up from the environment and `.env`, then passed in."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Slack credentials use Slack's conventional names, without our prefix.
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")

    database_url: str = Field(default="sqlite+aiosqlite:///data/tokenbot.db", validation_alias="TOKENBOT_DATABASE_URL")
    # Where the SQLite writer runs (storage/sqlite_writer.py): a child process (parsing and SQLite on two cores at
    # once) or a thread of this process (one core, or where starting a process is not worth it). PostgreSQL ignores it.
    sqlite_writer: Literal["process", "thread"] = Field(default="process", validation_alias="TOKENBOT_SQLITE_WRITER")
    # GovSlack, egress proxies and the tests' fake Slack need a different Web API base URL.
    slack_api_url: str = Field(default=SLACK_DEFAULT_API_URL, validation_alias="TOKENBOT_SLACK_API_URL")
    ingest_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list, validation_alias="TOKENBOT_INGEST_TOKENS")
    # OTLP receiver (/v1/logs, /v1/metrics, /v1/traces): its own bearer tokens, because they sit in every
    # engineer's Claude Code settings (a leaked one can only send telemetry, not post usage as any gateway user).
    otlp_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list, validation_alias="TOKENBOT_OTLP_TOKENS")
    # Span, log-record or resource attributes naming the user, first found wins (the first the org file knows).
    otlp_user_attributes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["user.email", "enduser.id", "user.account_uuid", "user.account_id", "user.id"],
        validation_alias="TOKENBOT_OTLP_USER_ATTRIBUTES")
    # POST /v1/ingest/github: the secret set on the GitHub webhook (X-Hub-Signature-256); unset, the endpoint is off.
    github_webhook_secret: SecretStr | None = Field(default=None, validation_alias="TOKENBOT_GITHUB_WEBHOOK_SECRET")
    org_file: Path | None = Field(default=None, validation_alias="TOKENBOT_ORG_FILE")
    host: str = Field(default="127.0.0.1", validation_alias="TOKENBOT_HOST")
    port: int = Field(default=3000, ge=0, le=65535, validation_alias="TOKENBOT_PORT")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, validation_alias="TOKENBOT_MAX_BODY_BYTES")
    # One usage event above this many US dollars is rejected (a unit mistake or an attack must not use up a budget).
    max_event_cost_usd: float = Field(default=10_000.0, gt=0, le=9_000_000_000_000,
                                      validation_alias="TOKENBOT_MAX_EVENT_COST_USD")
    # Seconds a client may take to send a request body; slower gets a 408 and the connection closed.
    body_read_timeout_s: float = Field(default=30.0, gt=0, le=600, validation_alias="TOKENBOT_BODY_READ_TIMEOUT_S")
    # /tokens: answered in the acknowledgement when ready within this many seconds (Slack allows 3), else
    # acknowledged with "working on it" and answered through the command's response_url.
    slash_ack_budget_s: float = Field(default=2.0, gt=0, le=2.8, validation_alias="TOKENBOT_SLASH_ACK_BUDGET_S")
    # Slash commands one process has accepted and not yet answered (4 are computed at once, the rest wait their
    # turn, acknowledged); beyond it the answer is "busy, try again".
    slash_max_in_flight: int = Field(default=1000, ge=1, le=100_000, validation_alias="TOKENBOT_SLASH_MAX_IN_FLIGHT")
    log_level: str = Field(default="INFO", validation_alias="TOKENBOT_LOG_LEVEL")
    log_format: str = Field(default="json", pattern="^(json|text)$", validation_alias="TOKENBOT_LOG_FORMAT")
    # GET /v1/budget/check: how stale its cached spend may be, and whether users missing from the org may spend.
    check_cache_seconds: float = Field(default=5.0, ge=0, le=300, validation_alias="TOKENBOT_CHECK_CACHE_SECONDS")
    check_allow_unknown: bool = Field(default=True, validation_alias="TOKENBOT_CHECK_ALLOW_UNKNOWN")
    # POST /v1/budget/reserve (hard caps): how long a request's reservation is held if its usage event never comes,
    # and the output size assumed when the request sets no max_tokens and the person has no history with the model.
    reservation_ttl_s: int = Field(default=900, ge=10, le=86400, validation_alias="TOKENBOT_RESERVATION_TTL_S")
    reserve_default_output_tokens: int = Field(default=1024, ge=0, le=10_000_000,
                                               validation_alias="TOKENBOT_RESERVE_DEFAULT_OUTPUT_TOKENS")
    # Digests and warnings (bot/scheduler.py)
    scheduler_enabled: bool = Field(default=True, validation_alias="TOKENBOT_SCHEDULER_ENABLED")
    slack_min_post_interval_s: float = Field(default=1.0, ge=0, validation_alias="TOKENBOT_SLACK_MIN_POST_INTERVAL_S")
    spike_min_usd: float = Field(default=5.0, ge=0, validation_alias="TOKENBOT_SPIKE_MIN_USD")
    scan_interval_s: int = Field(default=300, ge=30, validation_alias="TOKENBOT_SCAN_INTERVAL_S")
    digest_concurrency: int = Field(default=4, ge=1, le=64, validation_alias="TOKENBOT_DIGEST_CONCURRENCY")
    # Runaway and tokenmaxxing signals (bot/domain/signals.py): what counts as a loop, a runaway session, idle burn.
    signal_loop_requests: int = Field(default=20, ge=3, le=10_000, validation_alias="TOKENBOT_SIGNAL_LOOP_REQUESTS")
    signal_loop_window_s: int = Field(default=600, ge=60, le=86400, validation_alias="TOKENBOT_SIGNAL_LOOP_WINDOW_S")
    signal_runaway_factor: float = Field(default=8.0, ge=1.5, le=1000, validation_alias="TOKENBOT_SIGNAL_RUNAWAY_FACTOR")
    signal_runaway_min_usd: float = Field(default=20.0, ge=0, validation_alias="TOKENBOT_SIGNAL_RUNAWAY_MIN_USD")
    signal_idle_usd_per_day: float = Field(default=50.0, ge=0, validation_alias="TOKENBOT_SIGNAL_IDLE_USD_PER_DAY")
    signal_idle_days: int = Field(default=3, ge=1, le=60, validation_alias="TOKENBOT_SIGNAL_IDLE_DAYS")
    # Gateway and provider usage pollers (bot/pollers/); each is off until its URL/key is set.
    admin_digest_hour: int = Field(default=8, ge=0, le=23, validation_alias="TOKENBOT_ADMIN_DIGEST_HOUR")  # UTC
    retention_days: int = Field(default=400, ge=7, validation_alias="TOKENBOT_RETENTION_DAYS")  # raw events; rollups stay
    poll_interval_s: int = Field(default=900, ge=60, validation_alias="TOKENBOT_POLL_INTERVAL_S")
    # Where the OpenAI/Anthropic usage pollers start on a fresh install: unset, the start of the current UTC month
    # (every day reconciliation compares); else this many days back. `tokenbot poll <provider> --since` backfills.
    poll_first_lookback_days: int | None = Field(default=None, ge=0, le=400,
                                                 validation_alias="TOKENBOT_POLL_FIRST_LOOKBACK_DAYS")
    litellm_url: str | None = Field(default=None, validation_alias="TOKENBOT_LITELLM_URL")
    litellm_admin_key: SecretStr | None = Field(default=None, validation_alias="TOKENBOT_LITELLM_ADMIN_KEY")
    openai_admin_key: SecretStr | None = Field(default=None, validation_alias="TOKENBOT_OPENAI_ADMIN_KEY")
    openai_api_url: str = Field(default="https://api.openai.com", validation_alias="TOKENBOT_OPENAI_API_URL")
    anthropic_admin_key: SecretStr | None = Field(default=None, validation_alias="TOKENBOT_ANTHROPIC_ADMIN_KEY")
    anthropic_api_url: str = Field(default="https://api.anthropic.com", validation_alias="TOKENBOT_ANTHROPIC_API_URL")
    # Reconciliation (bot/reconcile.py): a day is flagged when |estimate - bill| > max(pct of the bill, min_usd).
    reconcile_threshold_pct: float = Field(default=5.0, ge=0, validation_alias="TOKENBOT_RECONCILE_THRESHOLD_PCT")
    reconcile_min_usd: float = Field(default=1.0, ge=0, validation_alias="TOKENBOT_RECONCILE_MIN_USD")

    @field_validator("ingest_tokens", "otlp_tokens", "otlp_user_attributes", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _url_ends_with_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("litellm_url", "openai_api_url", "anthropic_api_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://…")
        return value

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    def secret_values(self) -> list[str]:
        """Every secret's value, for the log redaction filter."""
        values = [t.get_secret_value() for t in (*self.ingest_tokens, *self.otlp_tokens)]
        password = url_password(self.database_url)
        if password:
            values.append(password)
        for field in type(self).model_fields:
            value = getattr(self, field)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
        return values

    def missing_slack_variables(self) -> list[str]:
        missing = []
        if self.slack_bot_token is None:
            missing.append("SLACK_BOT_TOKEN")
        if self.slack_signing_secret is None:
            missing.append("SLACK_SIGNING_SECRET")
        return missing


_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)([^@\s]+)(@)")


def mask_url_passwords(text: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`, wherever a URL appears in `text`."""
    return _URL_PASSWORD.sub(r"\1***\3", text)


def url_password(url: str) -> str | None:
    match = _URL_PASSWORD.search(url)
    return match.group(2) if match else None


class SettingsError(Exception):
    """A bad setting, described in one line that names the variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        variable = _variable_name(field)
        info = Settings.model_fields.get(field) or next(
            (f for f in Settings.model_fields.values() if f.validation_alias == field), None)
        secret = info is not None and "SecretStr" in str(info.annotation)  # never echo a secret, even a bad one
        got = "" if secret else f" (got {mask_url_passwords(repr(first.get('input')))[:200]})"
        raise SettingsError(f"bad setting {variable}: {mask_url_passwords(str(first['msg']))}{got}") from None


def _variable_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    return field.upper()
