from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings


def test_defaults_are_embedded_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "MQTT_URL", "REDIS_URL", "HTTP_PORT", "CONFIG_FILE"):
        monkeypatch.delenv(f"CAREBELL_{name}", raising=False)
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.mqtt_url == "mqtt://127.0.0.1:1883"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.http_port == 8000


def test_environment_overrides_config_file_which_overrides_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "carebell.toml"
    config.write_text('http_port = 9100\nredis_url = "redis://cache:6379/2"\n')
    monkeypatch.setenv("CAREBELL_CONFIG_FILE", str(config))
    monkeypatch.setenv("CAREBELL_HTTP_PORT", "9200")
    settings = Settings()
    assert settings.http_port == 9200
    assert settings.redis_url == "redis://cache:6379/2"


def test_postgres_urls_use_psycopg3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREBELL_DATABASE_URL", "postgres://u@db:5432/carebell")
    assert Settings().database_url == "postgresql+psycopg://u@db:5432/carebell"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAREBELL_HTTP_PORT", "99999")
    with pytest.raises(ValidationError, match="http_port"):
        Settings()
    monkeypatch.delenv("CAREBELL_HTTP_PORT")
    monkeypatch.setenv("CAREBELL_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        Settings()
