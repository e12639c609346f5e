import pytest

from bot.settings import SettingsError, load_settings


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENBOT_PORT", "eighty")
    with pytest.raises(SettingsError, match="^bad setting TOKENBOT_PORT: "):
        load_settings()


def test_database_url_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("TOKENBOT_INGEST_TOKENS", " a ,b,, ")
    s = load_settings()
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert [t.get_secret_value() for t in s.ingest_tokens] == ["a", "b"]
    assert "a" not in repr(s.ingest_tokens)  # secrets never print
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError, match="TOKENBOT_DATABASE_URL"):
        load_settings()


def test_secrets_and_url_passwords_are_masked_in_every_log_line_and_traceback() -> None:
    import io
    import logging

    from bot.logs import RedactSecrets
    from bot.settings import load_settings

    settings = load_settings(TOKENBOT_DATABASE_URL="postgresql+asyncpg://bot:pg-pass-123456@db/x",
                             SLACK_BOT_TOKEN="xoxb-very-secret-token")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(settings.secret_values()))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("connecting to %s", settings.database_url)
        try:
            raise RuntimeError("auth failed for xoxb-very-secret-token at http://u:other-pass@host/")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "pg-pass-123456" not in text and "xoxb-very-secret-token" not in text and "other-pass" not in text
    assert "postgresql+asyncpg://bot:***@db/x" in text and "RuntimeError" in text
