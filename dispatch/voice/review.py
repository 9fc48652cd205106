"""Which calls a supervisor reviews this month (pure).

The TEC quality framework asks for regular audits of recorded calls, two per call
handler per month. Each operator's answered calls of the month not yet sampled
are drawn from at random (a seeded ``random.Random`` makes it repeatable), until
the operator has ``per_operator`` sampled calls that month.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

CALLS_PER_OPERATOR = 2


@dataclass(frozen=True, slots=True)
class CallSummary:
    id: uuid.UUID
    host: str
    answered: bool
    sampled: bool


def sample_for_review(
    calls: Iterable[CallSummary], rng: random.Random, *, per_operator: int = CALLS_PER_OPERATOR
) -> list[uuid.UUID]:
    """The calls to add to the month's sample, so each operator reaches ``per_operator``."""
    if per_operator < 1:
        raise ValueError("per_operator must be at least 1")
    by_host: dict[str, list[CallSummary]] = defaultdict(list)
    for call in calls:
        by_host[call.host].append(call)
    chosen: list[uuid.UUID] = []
    for host in sorted(by_host):
        own = by_host[host]
        wanted = per_operator - sum(c.sampled for c in own)
        pool = sorted((c.id for c in own if c.answered and not c.sampled), key=str)
        if wanted > 0 and pool:
            chosen.extend(rng.sample(pool, min(wanted, len(pool))))
    return chosen
