from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dispatch.api.deps import HealthDep
from dispatch.api.schemas import Health
from dispatch.store.db import Database

router = APIRouter()


def _database_ok(db: Database) -> bool:
    try:
        with db.read() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return True
    except SQLAlchemyError:
        return False


@router.get("/healthz", response_model=Health)
async def healthz(server: HealthDep, response: Response) -> Health:
    """200 when the database answers (the record), device messages are being
    stored and every background loop runs; Redis and MQTT are reported beside them."""
    database = await server.db.run(_database_ok, server.db)
    try:
        redis = await asyncio.wait_for(server.bus.ping(), 2.0)
    except (RedisError, OSError, TimeoutError):
        redis = False
    gateway = server.gateway
    mqtt = gateway.is_connected if gateway is not None else None
    ingest = gateway.failing_since is None if gateway is not None else None
    loops_down = server.loops_down
    ok = database and ingest is not False and not loops_down
    if not ok:
        response.status_code = 503
    return Health(
        status="ok" if ok else "unavailable",
        database=database,
        redis=redis,
        mqtt=mqtt,
        ingest=ingest,
        loops_down=loops_down,
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(server: HealthDep) -> Response:
    """Prometheus text format: ingest rate and outcomes, rejects by reason, commit
    latency, devices offline, open alerts, outbox backlog (docs/operations.md)."""
    body, content_type = await server.db.run(server.metrics_exposition)
    return Response(body, media_type=content_type)
