"""The exact solve: which arcs to take so that the summed cost is smallest.

A min-cost assignment on a sparse bipartite graph, solved by scipy's LAPJVsp
(``min_weight_full_bipartite_matching``; ADR 0004). One row per caregiver an
alert still needs (a two-person alert is two rows, so it gets two different
caregivers), one column per caregiver, and for every row a column of its own
that stands for "nobody": every row can be matched, and leaving a row empty costs
what its alert says.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]


def cheapest_arcs(alert: Ints, caregiver: Ints, cost: Ints, slots: Ints, unassigned: Ints) -> Flags:
    """Which arcs to take; an exact optimum.

    Arc ``k`` sends caregiver ``caregiver[k]`` to alert ``alert[k]`` for
    ``cost[k]`` (whole numbers, no two arcs for the same pair). Alert ``i`` takes
    at most ``slots[i]`` arcs and pays ``unassigned[i]`` for each slot it leaves
    empty; a caregiver serves at most one arc. Returns one flag per arc.
    """
    taken = np.zeros(len(alert), dtype=np.bool_)
    if not len(alert):
        return taken
    # Rows: slot s of each alert that has an arc (the others only pay "nobody").
    served, row_of_alert = _dense(alert)
    row_start = np.concatenate(([0], np.cumsum(slots[served])))
    n_rows = int(row_start[-1])
    columns, column = _dense(caregiver)
    n_cols = len(columns) + n_rows
    rows, cols, weights, arcs = [], [], [], []
    for s in range(int(slots[served].max())):
        has_slot = slots[alert] > s
        rows.append(row_start[row_of_alert[has_slot]] + s)
        cols.append(column[has_slot])
        weights.append(cost[has_slot])
        arcs.append(np.flatnonzero(has_slot))
    nobody = np.arange(n_rows)
    rows.append(nobody)
    cols.append(len(columns) + nobody)
    weights.append(unassigned[np.repeat(served, slots[served])])
    arcs.append(np.full(n_rows, -1))
    edge = np.concatenate(rows) * n_cols + np.concatenate(cols)
    by_edge = np.argsort(edge)
    edge, arc = edge[by_edge], np.concatenate(arcs)[by_edge]
    # LAPJVsp reads a stored zero as "no edge"; the same constant on every row's
    # one match leaves the optimum where it was.
    weight = np.concatenate(weights)[by_edge].astype(np.float64) + 1.0
    row_ends = np.searchsorted(edge, np.arange(n_rows + 1) * n_cols)
    graph = csr_matrix((weight, edge % n_cols, row_ends), shape=(n_rows, n_cols))
    matched_rows, matched_cols = min_weight_full_bipartite_matching(graph)
    chosen = arc[np.searchsorted(edge, matched_rows * n_cols + matched_cols)]
    taken[chosen[chosen >= 0]] = True
    return taken


def _dense(values: Ints) -> tuple[Ints, Ints]:
    """``np.unique(values, return_inverse=True)`` for small whole numbers >= 0, by
    counting instead of sorting (the values are indices into a round's snapshot)."""
    present = np.zeros(int(values.max()) + 1, dtype=np.bool_)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[values]
