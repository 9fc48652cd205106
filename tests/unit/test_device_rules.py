"""The catalogue's rules for device events (pure)."""

from __future__ import annotations

from config.settings import Settings
from dispatch.domain import device_rules
from dispatch.runtime.catalog_file import load_catalog

CATALOG = load_catalog(Settings().alert_types_file)


def test_every_rule_alert_is_in_the_catalogue() -> None:
    for code in device_rules.RULE_ALERTS:
        assert code in CATALOG.alert_types
        assert CATALOG.alert_types[code].auto_dispatch is False
