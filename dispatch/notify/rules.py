"""The notification rules of config/notifications.yaml: which contacts hear of
which step of an alert, by which channels in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dispatch.domain.cascade import CascadeRule

DEFAULT_PATH = Path(__file__).parents[2] / "config" / "notifications.yaml"
STEPS = ("raised", "en_route", "on_scene", "resolved", "cancelled", "escalated", "handed_over")
# Audited actions that are steps of their own (the others are state changes).
ACTION_STEPS = {"handed_over": "handed_over", "escalated": "escalated"}
ANY = "*"
CASCADE = "cascade"  # the template of a cascade's question ("can you go to …?")
KEY_HOLDER = "key_holder"  # a pseudo-role: any contact holding a key to the home


def step_of(entity: str, from_state: str | None, to_state: str, action: str | None) -> str | None:
    """The step an audit record is, or None for one nobody is told of."""
    if entity != "alert":
        return None
    if action is not None:
        return ACTION_STEPS.get(action)
    if to_state == "raised" and from_state is not None:
        return None
    return to_state if to_state in STEPS else None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    alert_types: frozenset[str]
    severities: frozenset[str]
    roles: frozenset[str]
    steps: frozenset[str]
    channels: tuple[str, ...]

    def matches(
        self, alert_type: str, severity: str, role: str, key_holder: bool, step: str
    ) -> bool:
        return (
            step in self.steps
            and (ANY in self.alert_types or alert_type in self.alert_types)
            and (ANY in self.severities or severity in self.severities)
            and (role in self.roles or (key_holder and KEY_HOLDER in self.roles))
        )


@dataclass(frozen=True, slots=True)
class Rules:
    rules: tuple[Rule, ...]
    templates: Mapping[str, str]
    cascade: CascadeRule | None = None  # None: no responder cascade

    def channels_for(
        self, *, alert_type: str, severity: str, role: str, key_holder: bool, step: str
    ) -> tuple[str, ...]:
        """The channels of the first rule that tells this contact of this step; () for none."""
        for rule in self.rules:
            if rule.matches(alert_type, severity, role, key_holder, step):
                return rule.channels
        return ()

    @property
    def steps(self) -> frozenset[str]:
        return frozenset(s for r in self.rules for s in r.steps)


def _strings(raw: Any, what: str) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"{what} must be a non-empty list of strings")
    return list(raw)


def parse(raw: Mapping[str, Any]) -> Rules:
    """The rules, or ValueError naming what is wrong (the server refuses to start)."""
    rules = []
    for i, entry in enumerate(raw.get("rules") or []):
        where = f"rule {i + 1} ({entry.get('name', '?')})"
        steps = _strings(entry.get("steps"), f"{where}: steps")
        unknown = sorted(set(steps) - set(STEPS))
        if unknown:
            raise ValueError(f"{where}: unknown steps {unknown}; known: {list(STEPS)}")
        rules.append(
            Rule(
                name=str(entry.get("name", f"rule {i + 1}")),
                alert_types=frozenset(
                    _strings(entry.get("alert_types", [ANY]), f"{where}: alert_types")
                ),
                severities=frozenset(
                    _strings(entry.get("severities", [ANY]), f"{where}: severities")
                ),
                roles=frozenset(_strings(entry.get("roles"), f"{where}: roles")),
                steps=frozenset(steps),
                channels=tuple(_strings(entry.get("channels"), f"{where}: channels")),
            )
        )
    templates = dict(raw.get("templates") or {})
    cascade = _cascade(raw["cascade"]) if raw.get("cascade") else None
    needed = {s for r in rules for s in r.steps} | ({CASCADE} if cascade else set())
    missing = sorted(needed - set(templates))
    if missing:
        raise ValueError(f"no template for steps {missing}")
    return Rules(tuple(rules), templates, cascade)


def _cascade(raw: Mapping[str, Any]) -> CascadeRule:
    return CascadeRule(
        when=frozenset(_strings(raw.get("when"), "cascade.when")),
        roles=frozenset(_strings(raw.get("roles"), "cascade.roles")),
        at_once=int(raw.get("at_once", 1)),
        timeout_s=float(raw.get("timeout_s", 180)),
        medical_types=frozenset(raw.get("medical_types") or ()),
        channels=tuple(_strings(raw.get("channels", ["sms"]), "cascade.channels")),
    )


def load(path: Path = DEFAULT_PATH) -> Rules:
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def channel_after(channels: Sequence[str], current: str) -> str | None:
    """The channel to fall back to after ``current`` failed, or None when none is left."""
    if current not in channels:
        return None
    index = list(channels).index(current) + 1
    return channels[index] if index < len(channels) else None
