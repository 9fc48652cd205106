"""Bulk import of elders and caregivers from CSV and XLSX: idempotent, dry run, per-row report."""

from __future__ import annotations

import io

import httpx
from openpyxl import Workbook

from tests.conftest import RunningServer
from tests.helpers import bearer, login

HEADER = [
    "external_id",
    "name",
    "address",
    "lat",
    "lon",
    "district",
    "id_number",
    "birth_date",
    "hardship",
    "regular_visits",
    "contact1_name",
    "contact1_relation",
    "contact1_phones",
    "contact1_key_holder",
]
GOOD = [
    [
        "HZ-1",
        "陈淑珍",
        "和平里5幢",
        30.28,
        120.16,
        "东城区",
        "330102194403150023",
        "1944-03-15",
        "kongchao;gaoling",
        "是",
        "陈晓红",
        "女儿",
        "13900002222",
        "yes",
    ],
    ["HZ-2", "刘桂芳", "和平里3幢", 30.281, 120.161, "东城区", "", "", "", "", "", "", "", ""],
]
BAD = ["HZ-3", "王大爷", "和平里9幢", 95.0, 120.16, "东城区", "12345", "", "", "", "", "", "", ""]


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_xlsx_import_reports_each_row_and_runs_twice_to_the_same_state(
    server: RunningServer,
) -> None:
    admin = bearer(await login(server.http, server.services.db, "admin"))
    data = xlsx([*GOOD, BAD])
    async with httpx.AsyncClient(base_url=server.http, headers=admin) as http:
        dry = await http.post("/api/v1/elders/import?dry_run=true", content=data)
        assert dry.status_code == 200, dry.text
        assert (dry.json()["created"], dry.json()["failed"]) == (2, 1)
        assert (await http.get("/api/v1/elders")).json() == []  # a dry run changes nothing

        real = (await http.post("/api/v1/elders/import", content=data)).json()
        assert (real["created"], real["failed"]) == (2, 1)
        bad = [r for r in real["rows"] if r["outcome"] == "failed"]
        assert [r["line"] for r in bad] == [4]
        assert "lat" in bad[0]["error"]
        assert "id_number" in bad[0]["error"]
        again = (await http.post("/api/v1/elders/import", content=data)).json()
        assert (again["created"], again["unchanged"], again["failed"]) == (0, 2, 1)

        listed = {e["external_id"]: e for e in (await http.get("/api/v1/elders")).json()}
        assert set(listed) == {"HZ-1", "HZ-2"}
        record = (await http.get(f"/api/v1/elders/{listed['HZ-1']['id']}")).json()
        assert record["hardship"] == ["kongchao", "gaoling"]
        assert record["regular_visits"] is True
        assert record["birth_date"] == "1944-03-15"
        assert record["contacts"][0]["key_holder"] is True

        moved = [[*GOOD[1][:2], "望湖12幢", *GOOD[1][3:]]]
        csv_text = (
            ",".join(HEADER) + "\n" + "\n".join(",".join(str(v) for v in row) for row in moved)
        )
        updated = (await http.post("/api/v1/elders/import", content=csv_text.encode())).json()
        assert (updated["updated"], updated["failed"]) == (1, 0)
        changes = (await http.get(f"/api/v1/elders/{listed['HZ-2']['id']}/changes")).json()
        assert changes[-1]["after"]["address"] == "望湖12幢"


async def test_caregivers_import_and_bad_files_are_refused_clearly(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    operator = bearer(await login(server.http, db, "operator", areas=("东城区",)))
    rows = (
        "external_id,name,skills,shift_start,shift_end,transport,home_lat,home_lon\n"
        "CG-1,周海燕,basic_care;first_aid,08:00,20:00,ebike,30.27,120.15\n"
        "CG-2,王立,basic_care,08:00,08:00,ebike,30.27,120.15\n"
        "CG-1,重复,basic_care,08:00,20:00,ebike,30.27,120.15\n"
    ).encode()
    async with httpx.AsyncClient(base_url=server.http) as http:
        refused = await http.post("/api/v1/caregivers/import", content=rows, headers=operator)
        assert refused.status_code == 403
        report = (await http.post("/api/v1/caregivers/import", content=rows, headers=admin)).json()
        assert [r["outcome"] for r in report["rows"]] == ["created", "failed", "failed"]
        assert "must differ" in report["rows"][1]["error"]
        assert "also on line 2" in report["rows"][2]["error"]
        skills = (await http.get("/api/v1/caregivers", headers=admin)).json()[0]["skills"]
        assert skills == ["basic_care", "first_aid"]
        broken = await http.post(
            "/api/v1/elders/import", content=b"PK\x03\x04not a zip", headers=admin
        )
        assert broken.status_code == 422
        empty = await http.post("/api/v1/elders/import", content=b"", headers=admin)
        assert empty.status_code == 422
