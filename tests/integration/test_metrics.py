"""GET /metrics after real traffic through the broker."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from config.settings import Settings
from devices.protocol import events_topic
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import seed_small_city, wait_until


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def sample(text: str, name: str) -> float:
    """The value of one sample line (``name`` with its labels), 0 if absent."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_metrics_count_what_came_in_and_what_was_refused(
    server: RunningServer, settings: Settings
) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    raised = 'carebell_device_messages_total{outcome="raised"}'
    not_json = 'carebell_device_messages_rejected_total{reason="not_json"}'
    async with httpx.AsyncClient(base_url=server.http) as http:

        async def scrape() -> str:
            response = await http.get("/metrics")
            response.raise_for_status()
            return response.text

        before = await scrape()
        publisher = DevicePublisher(settings.mqtt_url)
        await asyncio.to_thread(publisher.connect)
        await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
        info = publisher.client.publish(events_topic(city.device_id), b"{not json", qos=1)
        await asyncio.to_thread(info.wait_for_publish, 5)
        publisher.close()

        async def counted() -> str | None:
            text = await scrape()
            done = sample(text, not_json) > sample(before, not_json)
            return text if done and sample(text, raised) > sample(before, raised) else None

        after = await wait_until(counted)
    assert sample(after, "carebell_open_alerts") == 1
    assert sample(after, "carebell_ingest_commit_seconds_count") > sample(
        before, "carebell_ingest_commit_seconds_count"
    )
    assert "carebell_devices_offline" in after
    assert "carebell_outbox_backlog" in after
    assert sample(after, "carebell_gateway_backlog_messages") == 0  # all stored
