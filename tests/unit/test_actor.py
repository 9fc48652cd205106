"""Who did something (pure): the actor value object and its written form."""

from __future__ import annotations

import uuid

import pytest

from dispatch.domain.actor import DISPATCHER, Actor, ActorKind


def test_an_actor_is_written_kind_colon_name_and_read_back() -> None:
    caregiver = uuid.UUID("12345678-1234-5678-1234-567812345678")
    for actor, written in [
        (Actor.device("pb-00042"), "device:pb-00042"),
        (Actor.caregiver(caregiver), f"caregiver:{caregiver}"),
        (Actor.operator("op1"), "operator:op1"),
        (DISPATCHER, "system:dispatcher"),
        (Actor.phone("13800000000"), "phone:13800000000"),
    ]:
        assert str(actor) == written
        assert Actor.parse(written) == actor


def test_a_name_may_hold_a_colon() -> None:
    assert Actor.parse("device:gw:7") == Actor(ActorKind.DEVICE, "gw:7")


def test_an_unknown_kind_or_an_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="robot"):
        Actor.parse("robot:r2")
    with pytest.raises(ValueError, match="needs a name"):
        Actor.operator("")
