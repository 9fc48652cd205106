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
    # Each alert's arcs side by side (the matcher gives them so; others are sorted).
    by_alert = None if bool(np.all(alert[1:] >= alert[:-1])) else np.argsort(alert, kind="stable")
    if by_alert is not None:
        alert, caregiver, cost = alert[by_alert], caregiver[by_alert], cost[by_alert]
    # Rows: slot s of each alert that has an arc (the others only pay "nobody").
    served, arcs_of = np.unique(alert, return_counts=True)
    first_arc = np.cumsum(arcs_of) - arcs_of
    row_alert = np.repeat(np.arange(len(served)), slots[served])  # index into served
    n_rows = len(row_alert)
    columns, column = _dense(caregiver)
    n_cols = len(columns) + n_rows
    # The graph row by row, in place, no sorting: a row holds its alert's arcs in
    # their order, then its own "nobody" column. (LAPJVsp reads each row's
    # entries in any order.)
    per_row = arcs_of[row_alert] + 1
    row_ends = np.concatenate(([0], np.cumsum(per_row)))
    entry_row = np.repeat(np.arange(n_rows), per_row)
    offset = np.arange(row_ends[-1]) - row_ends[entry_row]
    is_arc = offset < per_row[entry_row] - 1
    arc = np.where(is_arc, first_arc[row_alert[entry_row]] + offset, -1)
    cols = np.where(is_arc, column[arc], len(columns) + entry_row)
    # LAPJVsp reads a stored zero as "no edge"; the same constant on every row's
    # one match leaves the optimum where it was.
    weight = np.where(is_arc, cost[arc], unassigned[served[row_alert[entry_row]]]) + 1.0
    graph = csr_matrix(
        (weight, cols.astype(np.int32), row_ends.astype(np.int32)), shape=(n_rows, n_cols)
    )
    _, matched_cols = min_weight_full_bipartite_matching(graph)
    chosen = arc[cols == matched_cols[entry_row]]
    chosen = chosen[chosen >= 0]
    taken[chosen if by_alert is None else by_alert[chosen]] = True
    return taken


def _dense(values: Ints) -> tuple[Ints, Ints]:
    """``np.unique(values, return_inverse=True)`` for small whole numbers >= 0, by
    counting instead of sorting (the values are indices into a round's snapshot)."""
    present = np.zeros(int(values.max()) + 1, dtype=np.bool_)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[values]
