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
