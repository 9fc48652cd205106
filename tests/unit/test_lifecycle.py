import pytest

from dispatch.domain.lifecycle import (
    ALERT_STATE_FOR_ORDER,
    ALERT_TRANSITIONS,
    OPEN_ALERT_STATES,
    ORDER_TRANSITIONS,
    AlertState,
    OrderState,
    advance_alert,
    advance_order,
    alert_follows,
)
from dispatch.errors import CareBellError, IllegalTransition

HAPPY_ALERT_PATH = [
    AlertState.RAISED,
    AlertState.DISPATCHING,
    AlertState.OFFERED,
    AlertState.ACCEPTED,
    AlertState.EN_ROUTE,
    AlertState.ON_SCENE,
    AlertState.RESOLVED,
]


def test_alert_walks_the_happy_path() -> None:
    state = HAPPY_ALERT_PATH[0]
    for target in HAPPY_ALERT_PATH[1:]:
        state = advance_alert(state, target)
    assert state is AlertState.RESOLVED


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (AlertState.RAISED, AlertState.RESOLVED),
        (AlertState.RESOLVED, AlertState.DISPATCHING),
        (AlertState.CANCELLED, AlertState.RAISED),
        (AlertState.OFFERED, AlertState.ON_SCENE),
    ],
)
def test_illegal_alert_move_is_refused_with_a_clear_error(
    current: AlertState, target: AlertState
) -> None:
    with pytest.raises(IllegalTransition) as info:
        advance_alert(current, target)
    assert isinstance(info.value, CareBellError)
    assert str(info.value) == f"alert cannot go from '{current}' to '{target}'"


def test_declined_or_expired_offer_sends_alert_back_to_dispatching() -> None:
    for ending in (OrderState.DECLINED, OrderState.EXPIRED):
        assert advance_order(OrderState.OFFERED, ending) is ending
        assert ALERT_STATE_FOR_ORDER[ending] is AlertState.DISPATCHING
        assert AlertState.DISPATCHING in ALERT_TRANSITIONS[AlertState.OFFERED]


def test_an_accepted_order_can_no_longer_be_declined() -> None:
    with pytest.raises(IllegalTransition):
        advance_order(OrderState.ACCEPTED, OrderState.DECLINED)


def test_terminal_states_have_no_way_out_and_every_state_is_reachable() -> None:
    for table, start in (
        (ALERT_TRANSITIONS, AlertState.RAISED),
        (ORDER_TRANSITIONS, OrderState.OFFERED),
    ):
        reachable, frontier = {start}, [start]
        while frontier:
            for nxt in table[frontier.pop()]:
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.append(nxt)
        assert reachable == set(table)
    assert AlertState.RESOLVED not in OPEN_ALERT_STATES
    assert AlertState.ESCALATED in OPEN_ALERT_STATES


def test_every_order_move_implies_a_legal_alert_move() -> None:
    # The alert follows its order; walk each order edge from the alert state it implies.
    alert_for = {OrderState.OFFERED: AlertState.OFFERED, **ALERT_STATE_FOR_ORDER}
    for current, targets in ORDER_TRANSITIONS.items():
        for target in targets:
            if target in ALERT_STATE_FOR_ORDER and current in alert_for:
                after = ALERT_STATE_FOR_ORDER[target]
                if after != alert_for[current]:
                    advance_alert(alert_for[current], after)


def test_the_alert_follows_its_order_forward() -> None:
    assert alert_follows(AlertState.OFFERED, OrderState.ACCEPTED, others_active=False) == (
        AlertState.ACCEPTED
    )
    assert alert_follows(AlertState.EN_ROUTE, OrderState.ON_SCENE, others_active=True) == (
        AlertState.ON_SCENE
    )


def test_a_two_caregiver_alert_follows_the_furthest_order() -> None:
    # The first caregiver is on the way; the second accepting does not pull it back.
    assert alert_follows(AlertState.EN_ROUTE, OrderState.ACCEPTED, others_active=True) is None


def test_a_decline_sends_the_alert_back_only_if_nobody_else_is_on_it() -> None:
    assert alert_follows(AlertState.OFFERED, OrderState.DECLINED, others_active=False) == (
        AlertState.DISPATCHING
    )
    assert alert_follows(AlertState.OFFERED, OrderState.EXPIRED, others_active=True) is None
    assert alert_follows(AlertState.ACCEPTED, OrderState.DECLINED, others_active=False) is None


def test_the_alert_resolves_when_its_last_order_completes() -> None:
    assert alert_follows(AlertState.ON_SCENE, OrderState.COMPLETED, others_active=False) == (
        AlertState.RESOLVED
    )
    assert alert_follows(AlertState.ON_SCENE, OrderState.COMPLETED, others_active=True) is None
    assert alert_follows(AlertState.ON_SCENE, OrderState.CANCELLED, others_active=False) is None
