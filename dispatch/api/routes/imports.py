"""Bulk import of elders and caregivers (CSV or XLSX): a JSON report of every row."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from dispatch.api.deps import AdminDep, DatabaseDep
from dispatch.registry import imports

router = APIRouter(prefix="/api/v1", tags=["imports"])
MAX_BYTES = 10 * 1024 * 1024
FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    }
}


class ImportReport(BaseModel):
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    failed: int
    rows: list[dict[str, object]]

    @classmethod
    def of(cls, rows: list[imports.RowReport], dry_run: bool) -> ImportReport:
        count = {o: sum(r.outcome == o for r in rows) for o in ("created", "updated", "unchanged")}
        failed = sum(r.outcome == "failed" for r in rows)
        return cls(dry_run=dry_run, failed=failed, rows=[asdict(r) for r in rows], **count)


async def _table(request: Request) -> list[dict[str, str]]:
    data = await request.body()
    if len(data) > MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the file is over 10 MiB: split it")
    return imports.read_table(data)


@router.post("/elders/import", response_model=ImportReport, openapi_extra=FILE_BODY)
async def import_elders(
    db: DatabaseDep, admin: AdminDep, request: Request, dry_run: bool = False
) -> ImportReport:
    """The body is a CSV or XLSX file, one elder a row, matched on ``external_id``:
    new ones are created, known ones updated (audited); every bad row is reported
    with its reason and the others still go in. ``dry_run=true`` changes nothing.
    Columns: docs/administration.md."""
    rows = await _table(request)
    report = await db.run(
        imports.import_elders,
        db,
        rows,
        actor=admin.username,
        now=datetime.now(UTC),
        dry_run=dry_run,
    )
    return ImportReport.of(report, dry_run)


@router.post("/caregivers/import", response_model=ImportReport, openapi_extra=FILE_BODY)
async def import_caregivers(
    db: DatabaseDep, admin: AdminDep, request: Request, dry_run: bool = False
) -> ImportReport:
    """As the elders' import, one caregiver a row (docs/administration.md)."""
    rows = await _table(request)
    report = await db.run(
        imports.import_caregivers,
        db,
        rows,
        actor=admin.username,
        now=datetime.now(UTC),
        dry_run=dry_run,
    )
    return ImportReport.of(report, dry_run)
