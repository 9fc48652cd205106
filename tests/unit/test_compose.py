"""docker-compose.yml stays valid (Compose Specification) and consistent with the code.

No Docker engine runs here, so the file is checked against the specification's
schema and against what the server actually reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_pydantic import ComposeSpecification

from config.settings import Settings
from devices.mqtt import BrokerAddress

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    ComposeSpecification.model_validate(compose)


def test_stack_has_broker_cache_database_and_server(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"mosquitto", "redis", "postgres", "coturn", "carebell", "caddy"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    depends = services["carebell"]["depends_on"]
    assert {n: d["condition"] for n, d in depends.items()} == dict.fromkeys(
        ("mosquitto", "redis", "postgres"), "service_healthy"
    )


def test_server_environment_names_real_settings(compose: dict[str, Any]) -> None:
    env = dict(compose["services"]["carebell"]["environment"])
    # uvicorn's own: trust the proxy's X-Forwarded-For (the server is reached only through it).
    assert env.pop("FORWARDED_ALLOW_IPS") == "*"
    fields = {f"CAREBELL_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    # As compose interpolates ${NAME:?why} from the environment it runs in.
    env = {k: re.sub(r"\$\{\w+:\?[^}]*\}", "example-secret", v) for k, v in env.items()}
    settings = Settings(**{k.removeprefix("CAREBELL_").lower(): v for k, v in env.items()})
    assert settings.database_url.startswith("postgresql+psycopg://carebell:")
    broker = BrokerAddress.parse(settings.mqtt_url)
    assert (broker.tls, broker.host, broker.port) == (True, "mosquitto", 8883)
    assert (broker.username, broker.password) == ("carebell-server", "example-secret")
    assert broker.ca_file == "/certs/ca.crt"


def test_mounted_files_and_build_context_exist(compose: dict[str, Any]) -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy/"):
                # Secrets the operator makes: docs/operations.md says how.
                assert source.removeprefix("./") in operations, source
            elif source.startswith("./"):
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


def test_production_broker_takes_tls_and_accounts_only() -> None:
    conf = (ROOT / "config" / "mosquitto.conf").read_text()
    lines = [line.split() for line in conf.splitlines() if line.strip() and line[0] != "#"]
    listeners = [line[1:] for line in lines if line[0] == "listener"]
    assert listeners == [["8883"]]
    settings = {line[0]: line[1:] for line in lines}
    assert settings["allow_anonymous"] == ["false"]
    assert {"certfile", "keyfile", "plugin", "plugin_opt_config_file"} <= set(settings)
    assert settings["plugin"][0].endswith("mosquitto_dynamic_security.so")


def test_http_reaches_the_server_only_through_tls(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "ports" not in services["carebell"]
    assert services["caddy"]["ports"] == ["80:80", "443:443"]
    caddyfile = (ROOT / "config" / "Caddyfile").read_text()
    assert "reverse_proxy carebell:8000" in caddyfile
