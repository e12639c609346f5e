"""Structured JSON logs (one object per line), with every configured secret masked wherever it would appear."""
from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime

import orjson

from bot.settings import Settings, mask_url_passwords


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:  # already rendered (and redacted) by RedactSecrets
            entry["exc"] = record.exc_text
        return orjson.dumps(entry).decode()


class RedactSecrets(logging.Filter):
    """Belt and braces: settings keep secrets in SecretStr, but a library may still log a URL or header with one."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def redact(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "[redacted]")
        return mask_url_passwords(text)  # a URL with a password nobody configured (a DSN in a driver's error)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:  # tracebacks carry URLs and tokens too: render once, redacted
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(settings.secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Routine chatter: every job run and every migration plugin. Their warnings and errors still show.
    for noisy in ("apscheduler", "alembic"):  # storage.migrate logs each upgrade itself
        logging.getLogger(noisy).setLevel(logging.WARNING)
