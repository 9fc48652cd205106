"""The web pages CareBell serves itself: the operators' board, the home-services page,
the administrators' pages, the supervisors' call review, the caregivers' app and the family page.

Plain HTML, CSS and ES modules with no build step; Leaflet is vendored under
static/vendor so the map works with no internet (docs/web.md).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    app.mount("/board", StaticFiles(directory=STATIC / "board", html=True), name="board")
    app.mount("/app", StaticFiles(directory=STATIC / "app", html=True), name="app")
    app.mount("/family", StaticFiles(directory=STATIC / "family", html=True), name="family")
    app.mount("/services", StaticFiles(directory=STATIC / "services", html=True), name="services")
    app.mount("/admin", StaticFiles(directory=STATIC / "admin", html=True), name="admin")
    app.mount("/review", StaticFiles(directory=STATIC / "review", html=True), name="review")
    # Before /reports: the care map is a page of its own under the reports' path.
    app.mount("/reports/map", StaticFiles(directory=STATIC / "caremap", html=True), name="caremap")
    app.mount("/reports", StaticFiles(directory=STATIC / "reports", html=True), name="reports")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/board/")

    # Browsers ask for it on every page that names no icon (and some that do).
    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        return RedirectResponse("/app/icon.svg")
