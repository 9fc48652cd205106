"""Tables as files the bureau opens in a spreadsheet: CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What the OpenAPI document says an export answers (a route's ``responses``).
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the table as CSV",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
XLSX_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the table as an XLSX workbook",
        "content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}

# A cell starting with one of these is a formula to a spreadsheet: names typed by
# people go out as text (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as the text a spreadsheet shows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return "; ".join(cell(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so a spreadsheet shows Chinese names right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row[c]) for c in columns])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append(list(columns))
    for row in rows:
        sheet.append([cell(row[c]) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
