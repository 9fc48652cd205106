"""The exact solve on its own: arcs in any order, alerts of one or two slots."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from dispatch.matching.assignment import cheapest_arcs

BIG = 10**12


def dense_optimum(
    alert: np.ndarray,
    caregiver: np.ndarray,
    cost: np.ndarray,
    slots: np.ndarray,
    nobody: np.ndarray,
) -> int:
    """The same problem as scipy's dense solver takes it: a row per slot, a
    column per caregiver and one "nobody" column per row."""
    rows = [i for i in range(len(slots)) for _ in range(slots[i])]
    n_cgs = int(caregiver.max()) + 1
    matrix = np.full((len(rows), n_cgs + len(rows)), BIG, dtype=np.int64)
    for r, i in enumerate(rows):
        mine = alert == i
        matrix[r, caregiver[mine]] = cost[mine]
        matrix[r, n_cgs + r] = nobody[i]
    return int(matrix[linear_sum_assignment(matrix)].sum())


@pytest.mark.parametrize("seed", range(12))
def test_arcs_in_any_order_give_the_exact_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_alerts, n_cgs = 25, 30
    pairs = rng.permutation(n_alerts * n_cgs)[: rng.integers(40, 300)]  # each pair once
    alert, caregiver = pairs // n_cgs, pairs % n_cgs
    cost = rng.integers(0, 2_000, len(pairs))
    slots = rng.choice([1, 1, 2], n_alerts)
    nobody = rng.choice([5_000, 10_000], n_alerts)

    taken = cheapest_arcs(alert, caregiver, cost, slots, nobody)

    per_alert = np.bincount(alert[taken], minlength=n_alerts)
    assert (per_alert <= slots).all()
    assert len(set(caregiver[taken].tolist())) == int(taken.sum())
    ours = int(cost[taken].sum() + ((slots - per_alert) * nobody).sum())
    assert ours == dense_optimum(alert, caregiver, cost, slots, nobody)


def test_no_arcs_takes_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert cheapest_arcs(empty, empty, empty, np.ones(3, np.int64), np.ones(3, np.int64)).size == 0
