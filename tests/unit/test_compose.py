"""docker-compose.yml stays valid (Compose Specification) and consistent with the code.

No Docker engine runs here, so the file is checked against the specification's
schema and against what the server actually reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_pydantic import ComposeSpecification

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    ComposeSpecification.model_validate(compose)


def test_stack_has_broker_cache_database_and_server(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"mosquitto", "redis", "postgres", "coturn", "carebell"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    depends = services["carebell"]["depends_on"]
    assert {n: d["condition"] for n, d in depends.items()} == dict.fromkeys(
        ("mosquitto", "redis", "postgres"), "service_healthy"
    )


def test_server_environment_names_real_settings(compose: dict[str, Any]) -> None:
    env = compose["services"]["carebell"]["environment"]
    fields = {f"CAREBELL_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    settings = Settings(**{k.removeprefix("CAREBELL_").lower(): v for k, v in env.items()})
    assert settings.database_url.startswith("postgresql+psycopg://carebell:")
    assert settings.mqtt_url == "mqtt://mosquitto:1883"


def test_mounted_files_and_build_context_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source
    assert (ROOT / "Dockerfile").is_file()
    named = {
        v.split(":")[0]
        for s in compose["services"].values()
        for v in s.get("volumes", [])
        if not v.startswith("./")
    }
    assert named == set(compose["volumes"])


def test_broker_config_never_drops_queued_alerts() -> None:
    conf = (ROOT / "config" / "mosquitto.conf").read_text()
    settings = dict(
        line.split(None, 1)
        for line in conf.splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert int(settings["max_queued_messages"]) >= 100_000
    assert settings["persistence"] == "true"
