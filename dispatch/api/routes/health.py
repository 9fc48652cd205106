from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dispatch import metrics
from dispatch.api.deps import ServicesDep
from dispatch.api.schemas import Health
from dispatch.services import Services

router = APIRouter()


def _database_ok(services: Services) -> bool:
    try:
        with services.db.session() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return True
    except SQLAlchemyError:
        return False


@router.get("/healthz", response_model=Health)
async def healthz(services: ServicesDep, response: Response) -> Health:
    """200 when the database answers (the record); Redis and MQTT are reported beside it."""
    database = await services.db.run(_database_ok, services)
    try:
        redis = await asyncio.wait_for(services.bus.ping(), 2.0)
    except (RedisError, OSError, TimeoutError):
        redis = False
    mqtt = services.gateway.is_connected if services.gateway is not None else None
    if not database:
        response.status_code = 503
    return Health(
        status="ok" if database else "unavailable", database=database, redis=redis, mqtt=mqtt
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(services: ServicesDep) -> Response:
    """Prometheus text format: ingest rate and outcomes, rejects by reason, commit
    latency, devices offline, open alerts, outbox backlog (docs/operations.md)."""
    body, content_type = await services.db.run(metrics.exposition)
    return Response(body, media_type=content_type)
