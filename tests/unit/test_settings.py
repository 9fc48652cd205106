import inspect
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
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
    monkeypatch.delenv("CAREBELL_REDIS_URL", raising=False)  # the file's to give here
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


def _every_command() -> list[Callable[..., object]]:
    from dispatch.runtime.cli import cli, devices_cli
    from simulators import cli as simulator_commands

    commands = [c.callback for c in (*cli.registered_commands, *devices_cli.registered_commands)]
    simulators = typer.Typer()
    simulator_commands.register(simulators)
    commands += [c.callback for c in simulators.registered_commands]
    return [c for c in commands if c is not None]


# Options named after what they set, where the name differs from the setting's.
OPTION_SETTINGS = {"host": "http_host", "port": "http_port"}


def test_no_command_option_shadows_the_environment_or_the_file() -> None:
    """An option that names a setting is None unless given, so leaving it out lets
    CAREBELL_* and the config file speak (one rule for every command)."""
    commands = _every_command()
    names = {c.__name__ for c in commands}
    assert {"serve", "demo", "press", "simulate", "plan", "import_devices"} <= names
    shadowing = [
        f"{command.__name__} --{name}"
        for command in commands
        for name, parameter in inspect.signature(command).parameters.items()
        if OPTION_SETTINGS.get(name, name) in Settings.model_fields
        and parameter.default is not None
    ]
    assert shadowing == []


@pytest.mark.parametrize(
    ("option", "env", "file", "expected"),
    [
        (9001, "9002", 9003, 9001),
        (None, "9002", 9003, 9002),
        (None, None, 9003, 9003),
        (None, None, None, 8000),
    ],
)
def test_an_option_beats_the_environment_which_beats_the_file_which_beats_the_default(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    option: int | None,
    env: str | None,
    file: int | None,
    expected: int,
) -> None:
    from dispatch.runtime.cli import settings_with

    monkeypatch.delenv("CAREBELL_HTTP_PORT", raising=False)
    monkeypatch.delenv("CAREBELL_CONFIG_FILE", raising=False)
    if env is not None:
        monkeypatch.setenv("CAREBELL_HTTP_PORT", env)
    if file is not None:
        (tmp_path / "carebell.toml").write_text(f"http_port = {file}\n")
        monkeypatch.setenv("CAREBELL_CONFIG_FILE", str(tmp_path / "carebell.toml"))
    assert settings_with(http_port=option).http_port == expected


def test_each_replica_on_a_host_gets_its_own_gateway_client_id() -> None:
    ids = {Settings(replica=n).gateway_client_id for n in range(3)}
    assert len(ids) == 3
    assert all(i.startswith("carebell-") for i in ids)
    assert Settings(replica=2).gateway_client_id == Settings(replica=2).gateway_client_id
    assert Settings(mqtt_client_id="gw-east-1", replica=2).gateway_client_id == "gw-east-1"


def test_a_demo_data_dir_holds_its_own_database_unless_one_is_named(tmp_path: Path) -> None:
    from simulators.cli import _database_in

    moved = _database_in(Settings(), tmp_path / "demo-b")
    assert moved.database_url == f"sqlite:///{tmp_path / 'demo-b' / 'carebell.db'}"
    named = Settings(database_url="sqlite:///elsewhere.db")
    assert _database_in(named, tmp_path / "demo-b").database_url == "sqlite:///elsewhere.db"
