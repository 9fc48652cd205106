"""Every text on the pages comes from the message catalogues, in both languages."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from config.settings import Settings
from dispatch.runtime.catalog_file import load_catalog
from dispatch.web import STATIC

CATALOGUES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in STATIC.glob("i18n/*.json")}
PAGES = sorted(STATIC.glob("*/index.html"))
SCRIPTS = [
    STATIC / "board/board.js",
    STATIC / "app/app.js",
    STATIC / "family/family.js",
    STATIC / "services/services.js",
    STATIC / "admin/admin.js",
    STATIC / "review/review.js",
    STATIC / "reports/reports.js",
    STATIC / "caremap/caremap.js",
]


class VisibleText(HTMLParser):
    """Text a person would see, outside <script>, <style> and <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.skipping = 0
        self.text: list[str] = []
        self.keys: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self.skipping += 1
        for name, value in attrs:
            if name.startswith("data-i18n") and value:
                self.keys.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.text.append(data.strip())


def test_both_languages_have_the_same_messages() -> None:
    assert set(CATALOGUES) == {"en", "zh-CN"}
    assert set(CATALOGUES["en"]) == set(CATALOGUES["zh-CN"])
    for locale, catalogue in CATALOGUES.items():
        empty = [key for key, text in catalogue.items() if not text.strip()]
        assert not empty, f"{locale}: empty messages {empty}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.parent.name)
def test_no_visible_text_is_written_into_a_page(page: Path) -> None:
    parser = VisibleText()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.text == []
    assert parser.keys, "the page labels nothing"
    missing = [key for key in parser.keys if key not in CATALOGUES["en"]]
    assert not missing


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_message_a_script_asks_for_exists(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    keys = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", source))
    assert keys, "the script shows no message"
    missing = sorted(key for key in keys if key not in CATALOGUES["en"])
    assert not missing


def test_every_configured_alert_type_has_a_name_on_the_pages() -> None:
    # The board, the app and the reports name an alert by "alertType.<code>"; a code
    # without one showed as the raw key to the operator.
    types = load_catalog(Settings().alert_types_file).alert_types
    for locale, catalogue in CATALOGUES.items():
        missing = sorted(code for code in types if f"alertType.{code}" not in catalogue)
        assert not missing, f"{locale}: no name for alert types {missing}"
