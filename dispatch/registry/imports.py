"""Bulk import of elders and caregivers from CSV or XLSX: idempotent by the bureau's
external id, with a dry run and a report of every row (what was done, or why not).

A row's errors never stop the others: each row is written in its own savepoint.
A dry run does all of it and rolls everything back, so its report is exactly what
a real run would do.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook
from pydantic import Field, ValidationError
from sqlmodel import Session, select

from dispatch.errors import CareBellError, InvalidInput
from dispatch.registry.elder_fields import ElderCreate
from dispatch.registry.elders import add_elder, update_elder
from dispatch.registry.workforce import CaregiverCreate
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Elder

MAX_ROWS = 20_000
MAX_CELL = 4_000  # characters: a field this long is a mistake, not data
LIST_SEPARATOR = ";"
CONTACTS = 3  # contact1_* … contact3_* columns
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class RowReport:
    line: int  # the spreadsheet's row number (the header is 1)
    external_id: str
    outcome: str  # created | updated | unchanged | failed
    error: str | None = None
    id: str | None = None


def read_table(data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, or GB18030 as Excel in China saves it) or an XLSX
    file's first sheet, keyed by the header row's names (lower case)."""
    rows = _xlsx_rows(data) if data.startswith(XLSX_MAGIC) else _csv_rows(data)
    header = next(rows, None)
    if header is None:
        raise InvalidInput(["the file is empty"])
    names = [h.strip().lower() for h in header]
    out: list[dict[str, str]] = []
    for values in rows:
        if len(out) >= MAX_ROWS:
            raise InvalidInput([f"more than {MAX_ROWS} rows: split the file"])
        if not any(v.strip() for v in values):
            out.append({})  # keep line numbers true; blank rows are skipped later
            continue
        out.append({n: v.strip() for n, v in zip(names, values, strict=False) if n})
    return out


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")
    try:
        yield from csv.reader(io.StringIO(text))
    except csv.Error as exc:
        raise InvalidInput([f"not a readable CSV file: {exc}"]) from exc


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput([f"not a readable XLSX file: {exc}"]) from exc
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        book.close()


_LISTS = {"phones", "hardship"}
_BOOLS = {"regular_visits"}
_TRUE = {"1", "true", "yes", "y", "是", "√"}


def _elder_body(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith("contact") or value == "":
            continue
        if len(value) > MAX_CELL:
            raise ValueError(f"{key}: longer than {MAX_CELL} characters")
        if key in _LISTS:
            body[key] = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
        elif key in _BOOLS:
            body[key] = value.lower() in _TRUE
        else:
            body[key] = value
    contacts = []
    for n in range(1, CONTACTS + 1):
        name = row.get(f"contact{n}_name", "")
        if not name:
            continue
        contacts.append(
            {
                "name": name,
                "relation": row.get(f"contact{n}_relation", ""),
                "phones": [
                    p.strip()
                    for p in row.get(f"contact{n}_phones", "").split(LIST_SEPARATOR)
                    if p.strip()
                ],
                "hours": row.get(f"contact{n}_hours", ""),
                "key_holder": row.get(f"contact{n}_key_holder", "").lower() in _TRUE,
                **{
                    field: row[f"contact{n}_{field}"]
                    for field in ("role", "lat", "lon")
                    if row.get(f"contact{n}_{field}", "")
                },
            }
        )
    body["contacts"] = contacts
    return body


def _why(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
    )


def _stored(record: ElderCreate) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = record.model_dump(mode="json", exclude={"contacts"})
    values["birth_date"] = record.birth_date  # the table keeps a date
    values["sex"] = values["sex"] or ""
    values["living_situation"] = values["living_situation"] or ""
    contacts = [c.model_dump(mode="json") for c in record.contacts]
    return values, contacts


def import_elders(
    db: Database, rows: list[dict[str, str]], *, actor: str, now: datetime, dry_run: bool
) -> list[RowReport]:
    """Create or update one elder per row, matched on ``external_id`` (required)."""

    def one(session: Session, line: int, row: dict[str, str]) -> RowReport:
        external_id = row.get("external_id", "")
        try:
            record = ElderCreate.model_validate(_elder_body(row))
        except ValidationError as exc:
            return RowReport(line, external_id, "failed", _why(exc))
        except ValueError as exc:
            return RowReport(line, external_id, "failed", str(exc))
        values, contacts = _stored(record)
        existing = session.exec(select(Elder).where(Elder.external_id == external_id)).first()
        if existing is None:
            made = add_elder(session, values, contacts, actor=actor, now=now)
            return RowReport(line, external_id, "created", id=str(made.elder.id))
        before = existing.model_dump()
        changed = update_elder(session, existing, values, contacts, actor=actor, now=now)
        outcome = "unchanged" if changed.elder.model_dump() == before else "updated"
        return RowReport(line, external_id, outcome, id=str(existing.id))

    return _run(db, rows, one, dry_run=dry_run)


def _run(
    db: Database,
    rows: list[dict[str, str]],
    one: Callable[[Session, int, dict[str, str]], RowReport],
    *,
    dry_run: bool,
) -> list[RowReport]:
    reports: list[RowReport] = []
    seen: dict[str, int] = {}
    with db.session() as session:
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            external_id = row.get("external_id", "")
            if not external_id:
                reports.append(RowReport(line, "", "failed", "external_id is required"))
                continue
            if external_id in seen:
                why = f"external_id {external_id} is also on line {seen[external_id]}"
                reports.append(RowReport(line, external_id, "failed", why))
                continue
            seen[external_id] = line
            savepoint = session.begin_nested()
            try:
                report = one(session, line, row)
                session.flush()
            except CareBellError as exc:
                report = RowReport(line, external_id, "failed", str(exc))
            if report.outcome == "failed":
                savepoint.rollback()
            else:
                savepoint.commit()
            reports.append(report)
        if dry_run:
            session.rollback()
    return reports


class CaregiverRow(CaregiverCreate):
    """A caregiver as a row of an import file: the API's fields and the bureau's id."""

    external_id: str = Field(min_length=1, max_length=64)


def import_caregivers(
    db: Database, rows: list[dict[str, str]], *, actor: str, now: datetime, dry_run: bool
) -> list[RowReport]:
    """Create or update one caregiver per row, matched on ``external_id``."""

    def one(session: Session, line: int, row: dict[str, str]) -> RowReport:
        external_id = row["external_id"]
        body: dict[str, Any] = {k: v for k, v in row.items() if v != ""}
        body["skills"] = [
            v.strip() for v in row.get("skills", "").split(LIST_SEPARATOR) if v.strip()
        ]
        try:
            record = CaregiverRow.model_validate(body)
        except ValidationError as exc:
            return RowReport(line, external_id, "failed", _why(exc))
        values = record.model_dump(exclude={"external_id"})
        values["transport"] = record.transport.value
        existing = session.exec(
            select(Caregiver).where(Caregiver.external_id == external_id)
        ).first()
        if existing is None:
            caregiver = Caregiver(external_id=external_id, **values)
            session.add(caregiver)
            session.flush()
            return RowReport(line, external_id, "created", id=str(caregiver.id))
        before = existing.model_dump()
        for key, value in values.items():
            setattr(existing, key, value)
        session.add(existing)
        outcome = "unchanged" if existing.model_dump() == before else "updated"
        return RowReport(line, external_id, outcome, id=str(existing.id))

    return _run(db, rows, one, dry_run=dry_run)
