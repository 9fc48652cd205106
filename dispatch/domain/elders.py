"""An elder's record: its vocabulary and what each role may see of it (pure)."""

from __future__ import annotations

from enum import StrEnum


class LivingSituation(StrEnum):
    ALONE = "alone"
    WITH_SPOUSE = "with_spouse"
    WITH_FAMILY = "with_family"


class Hardship(StrEnum):
    """The special-difficulty categories a bureau records (民政 terms)."""

    EXTREME_POVERTY = "tekun"  # 特困: extremely poor, no one to support them
    SUBSISTENCE = "dibao"  # 低保: on the minimum living allowance
    NEAR_SUBSISTENCE = "dibao_edge"  # 低保边缘: just above it
    LOST_ONLY_CHILD = "shidu"  # 失独: their only child has died
    EMPTY_NEST = "kongchao"  # 空巢: children live elsewhere
    LEFT_BEHIND = "liushou"  # 留守: family away working
    SEVERE_DISABILITY = "zhongcan"  # 重残: severe disability
    ADVANCED_AGE = "gaoling"  # 高龄: 80 and over


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class DeactivationReason(StrEnum):
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    IN_INSTITUTION = "in_institution"


class ContactRole(StrEnum):
    FAMILY = "family"
    GUARDIAN = "guardian"
    NEIGHBOUR = "neighbour"
    COMMUNITY = "community"  # the community's grid worker (网格员)
    DOCTOR = "doctor"


# Fields written to the change log as "changed" only, never their values: the log
# is read more widely than the record, and must not become a copy of it.
SENSITIVE_FIELDS = frozenset({"id_number", "notes", "access_notes", "medicines", "allergies"})


def mask_id_number(id_number: str) -> str:
    """The first six (the region) and last four characters; the rest starred.

    What lists and non-admin views show: enough to tell two people apart on the
    phone, not enough to use the number.
    """
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
