"""Which finished visits get a follow-up call (pure)."""

from __future__ import annotations

import hashlib
from uuid import UUID


def needs_follow_up(visit_id: UUID, *, first_of_its_kind: bool, share: float) -> bool:
    """Every first visit of an item to an elder, and a stable sample of the rest.

    The sample is drawn from the visit id's hash, so deciding twice gives the
    same answer and the share holds over many visits.
    """
    if first_of_its_kind:
        return True
    digest = hashlib.blake2b(visit_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 < share
