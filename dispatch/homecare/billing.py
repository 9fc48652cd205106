"""What a visit costs and who pays, and the monthly statements (pure).

A subsidised item is paid from the elder's monthly subsidy (set by their care
level) until it runs out; the rest, and any item that is not subsidised, is
self-paid. Money is whole fen so every sum is exact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Charge:
    subsidy_fen: int
    self_pay_fen: int


def charge(price_fen: int, *, subsidised: bool, subsidy_left_fen: int) -> Charge:
    if not subsidised:
        return Charge(0, price_fen)
    subsidy = max(0, min(price_fen, subsidy_left_fen))
    return Charge(subsidy, price_fen - subsidy)


@dataclass(frozen=True, slots=True)
class BilledVisit:
    """A visit as the statement sees it (done or ended by an exception)."""

    provider: str
    item: str
    minutes: float
    subsidy_fen: int
    self_pay_fen: int
    exception: str | None = None
    satisfaction: int | None = None


@dataclass
class StatementLine:
    provider: str
    item: str
    visits: int = 0
    hours: float = 0.0
    subsidy_fen: int = 0
    self_pay_fen: int = 0
    exceptions: int = 0
    ratings: list[int] = field(default_factory=list)

    @property
    def satisfaction(self) -> float | None:
        return round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None


def statement(visits: Iterable[BilledVisit]) -> list[StatementLine]:
    """One line per provider and menu item, sorted."""
    lines: dict[tuple[str, str], StatementLine] = {}
    for v in visits:
        line = lines.setdefault((v.provider, v.item), StatementLine(v.provider, v.item))
        line.visits += 1
        line.hours += v.minutes / 60
        line.subsidy_fen += v.subsidy_fen
        line.self_pay_fen += v.self_pay_fen
        line.exceptions += v.exception is not None
        if v.satisfaction is not None:
            line.ratings.append(v.satisfaction)
    return [lines[k] for k in sorted(lines)]


CSV_COLUMNS = (
    "provider",
    "item",
    "visits",
    "hours",
    "subsidy_yuan",
    "self_pay_yuan",
    "exceptions",
    "satisfaction",
)


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def to_csv(lines: Iterable[StatementLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow(
            (
                line.provider,
                line.item,
                line.visits,
                f"{line.hours:.2f}",
                _yuan(line.subsidy_fen),
                _yuan(line.self_pay_fen),
                line.exceptions,
                "" if line.satisfaction is None else line.satisfaction,
            )
        )
    return out.getvalue()
