"""The search's inner loops: schedules, insertions, ruin and recreate (numba).

Everything here works on flat integer arrays (built by ``arrays.py``) so that
numba can compile it; ``lns.py`` is the readable driver around it.

Three tuples travel through every function:

- ``P``, the problem (read only): see ``arrays.Compiled.problem`` for the order.
- ``S``, a solution: the routes and each task's start time.
- ``X``, scratch space for trying a move without changing ``S``.

Schedules. For fixed routes every rule is a lower bound on a start time (travel
from the stop before, a window's opening, a partner's start plus its lag) or an
upper bound (a hard window's end, a break's latest start, the shift's end, the
longest working day). The earliest schedule meets all the lower bounds at once
and minimises every start, hence every lateness; it exists unless an upper bound
is broken or the synchronisations form a cycle (then the propagation below would
never settle, and a cap on the number of route walks says "infeasible").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

F = TypeVar("F", bound=Callable[..., Any])

INF = 1 << 50
MAX_PUSHES = 6


def jit(function: F) -> F:
    """numba's compiler, typed for mypy; compiled code is cached on disk."""
    return cast(F, njit(cache=True, nogil=True)(function))


def inline(function: F) -> F:
    """``jit``, but inlined into its callers (numba IR inlining): a call that
    passes the P, S or X tuples costs a reference count on each of their arrays,
    which made the small helpers of the inner loops cost more than their work."""
    return cast(F, njit(cache=True, nogil=True, inline="always")(function))


# Indices into P (see arrays.py, which builds the tuple in this order).
# travel, loc, dur, e, l, due, late, partner, push_lag, demand, allowed, fam,
# capacity, w_start, w_end, shift_s, shift_e, max_work, fixed, unit_a, unit_b,
# penalty, task_unit, neighbours, maxlate_cost


@jit
def seed_random(seed: int) -> None:
    np.random.seed(seed)


@jit
def new_state(n_tasks: int, n_workers: int, e: Any) -> Any:
    """An empty solution: no task planned, every start at its window's opening."""
    cap = n_tasks + 1
    routes = np.full((n_workers, cap), -1, dtype=np.int64)
    rlen = np.zeros(n_workers, dtype=np.int64)
    route_of = np.full(n_tasks, -1, dtype=np.int64)
    pos_of = np.full(n_tasks, -1, dtype=np.int64)
    start = e.copy()
    arrive = e.copy()
    rtravel = np.zeros(n_workers, dtype=np.int64)
    rend = np.zeros(n_workers, dtype=np.int64)
    rload = np.zeros(n_workers, dtype=np.int64)
    return (routes, rlen, route_of, pos_of, start, arrive, rtravel, rend, rload)


@jit
def copy_state(src: Any, dst: Any) -> None:
    dst[0][...] = src[0]
    dst[1][...] = src[1]
    dst[2][...] = src[2]
    dst[3][...] = src[3]
    dst[4][...] = src[4]
    dst[5][...] = src[5]
    dst[6][...] = src[6]
    dst[7][...] = src[7]
    dst[8][...] = src[8]


@jit
def clone_state(src: Any) -> Any:
    return (
        src[0].copy(),
        src[1].copy(),
        src[2].copy(),
        src[3].copy(),
        src[4].copy(),
        src[5].copy(),
        src[6].copy(),
        src[7].copy(),
        src[8].copy(),
    )


@jit
def new_scratch(n_tasks: int, n_workers: int, start: Any) -> Any:
    ov = start.copy()  # the starts while a move is tried; equal to S's starts at rest
    touched = np.zeros(n_tasks, dtype=np.int64)
    is_touched = np.zeros(n_tasks, dtype=np.bool_)
    virt_k = np.full(n_workers, -1, dtype=np.int64)
    virt_t = np.full(n_workers, -1, dtype=np.int64)
    is_virt = np.zeros(n_tasks, dtype=np.bool_)
    vroute = np.full(n_tasks, -1, dtype=np.int64)
    queue = np.zeros(n_workers + 1, dtype=np.int64)
    inq = np.zeros(n_workers, dtype=np.bool_)
    walked = np.zeros(n_workers, dtype=np.int64)
    is_walked = np.zeros(n_workers, dtype=np.bool_)
    new_travel = np.zeros(n_workers, dtype=np.int64)
    new_end = np.zeros(n_workers, dtype=np.int64)
    # touched, queue head, queue size, walked, cost change so far, give up above,
    # walks in all (a statistic), the largest lateness in the trial, in S
    counts = np.zeros(9, dtype=np.int64)
    counts[5] = INF
    return (
        ov,
        touched,
        is_touched,
        virt_k,
        virt_t,
        is_virt,
        vroute,
        queue,
        inq,
        walked,
        is_walked,
        new_travel,
        new_end,
        counts,
        np.zeros(n_tasks, dtype=np.int64),  # how often each tried task was pushed
    )


@inline
def _elem(routes: Any, virt_k: Any, virt_t: Any, w: int, i: int) -> int:
    vk = virt_k[w]
    if vk < 0 or i < vk:
        return int(routes[w, i])
    if i == vk:
        return int(virt_t[w])
    return int(routes[w, i - 1])


@inline
def _enqueue(X: Any, w: int) -> None:
    queue, inq, counts = X[7], X[8], X[13]
    if inq[w]:
        return
    n = len(queue)
    queue[(counts[1] + counts[2]) % n] = w
    counts[2] += 1
    inq[w] = True


@inline
def _lateness(due: Any, late: Any, t: int, s: int) -> int:
    over = s - due[t]
    return int(late[t] * over) if over > 0 else 0


@inline
def _set_start(P: Any, X: Any, st: Any, x: int, s: int) -> bool:
    """Set x's start; False once the move tried costs more than the bound."""
    if st[x] != s:
        return _set_start_arrays(P[5], P[6], P[24], X[1], X[2], X[5], X[14], X[13], st, x, s)
    return True


@inline
def _set_start_arrays(
    due: Any,
    late: Any,
    maxlate_cost: int,
    touched: Any,
    is_touched: Any,
    is_virt: Any,
    pushes: Any,
    counts: Any,
    st: Any,
    x: int,
    s: int,
) -> bool:
    """``_set_start`` on arrays the caller took out of P and X once (the walk's
    inner loop)."""
    if st[x] == s:
        return True
    if not is_touched[x]:
        is_touched[x] = True
        touched[counts[0]] = x
        counts[0] += 1
    counts[4] += _lateness(due, late, x, s) - _lateness(due, late, x, int(st[x]))
    if late[x] > 0:  # a soft window: the largest lateness may grow
        worst = max(counts[7], counts[8])
        if s - due[x] > worst:
            counts[4] += maxlate_cost * (s - due[x] - worst)
            counts[7] = s - due[x]
    st[x] = s
    if is_virt[x]:
        # From a settled schedule, a cycle of synchronisations the move made
        # runs through the tried task and pushes it again and again.
        pushes[x] += 1
        if pushes[x] > MAX_PUSHES:
            return False
    return bool(counts[4] < counts[5])


@jit
def _walk(P: Any, S: Any, X: Any, w: int, st: Any) -> bool:
    """Walk route ``w`` (with its tried insertion, if any) from the worker's start,
    setting each start in ``st``; queue the routes of partners that must move.
    False if a hard rule is broken."""
    travel, loc, dur, e, latest = P[0], P[1], P[2], P[3], P[4]
    partner, push_lag = P[7], P[8]
    w_start, w_end, shift_s, shift_e, max_work = P[13], P[14], P[15], P[16], P[17]
    routes, rlen, route_of, arrive = S[0], S[1], S[2], S[5]
    virt_k, virt_t, is_virt, vroute = X[3], X[4], X[5], X[6]
    due, late, maxlate_cost = P[5], P[6], P[24]
    touched, is_touched, pushes, counts = X[1], X[2], X[14], X[13]
    n = rlen[w] + (1 if virt_k[w] >= 0 else 0)
    visits = 0
    for i in range(n):
        if loc[_elem(routes, virt_k, virt_t, w, i)] >= 0:
            visits += 1
    tot = 0
    end = shift_s[w]
    if visits > 0:
        t = shift_s[w]
        here = w_start[w]
        depart = -1
        for i in range(n):
            x = _elem(routes, virt_k, virt_t, w, i)
            if loc[x] < 0:  # a break: taken on the way to the next place, or there
                nxt = w_end[w]
                for j in range(i + 1, n):
                    y = _elem(routes, virt_k, virt_t, w, j)
                    if loc[y] >= 0:
                        nxt = loc[y]
                        break
                if t > latest[x]:
                    return False
                tr = travel[here, nxt]
                a = max(t + tr, e[x])
                s = a if a <= latest[x] else max(t, e[x])
                if depart < 0:  # a day that starts with the break starts just before it
                    depart = a - tr if a <= latest[x] else t
                if not _set_start_arrays(
                    due, late, maxlate_cost, touched, is_touched, is_virt, pushes, counts, st, x, s
                ):
                    return False
                arrive[x] = t
                tot += tr
                here = nxt
                t = a + dur[x]
            else:
                tr = travel[here, loc[x]]
                a = t + tr
                s = max(a, e[x])
                p = partner[x]
                active = p >= 0 and (route_of[p] >= 0 or is_virt[p])
                if active:
                    s = max(s, st[p] + push_lag[p])
                if s > latest[x]:
                    return False
                if depart < 0:
                    depart = s - tr  # leave just in time for the first visit
                if not _set_start_arrays(
                    due, late, maxlate_cost, touched, is_touched, is_virt, pushes, counts, st, x, s
                ):
                    return False
                arrive[x] = a
                if active and st[p] < s + push_lag[x]:
                    _enqueue(X, int(vroute[p]) if is_virt[p] else int(route_of[p]))
                tot += tr
                here = loc[x]
                t = s + dur[x]
        tr = travel[here, w_end[w]]
        tot += tr
        end = t + tr
        if end > shift_e[w]:
            return False
        if end - depart > max_work[w]:
            return False
    X[11][w] = tot
    X[12][w] = end
    if not X[10][w]:
        X[10][w] = True
        X[9][X[13][3]] = w
        X[13][3] += 1
    return True


@jit
def _propagate(P: Any, S: Any, X: Any, st: Any, limit: int) -> bool:
    """Walk queued routes until no start moves; False if a rule breaks or the
    synchronisations never settle (a cycle)."""
    queue, inq, counts = X[7], X[8], X[13]
    walks = 0
    n = len(queue)
    while counts[2] > 0:
        w = int(queue[counts[1] % n])
        counts[1] += 1
        counts[2] -= 1
        inq[w] = False
        walks += 1
        counts[6] += 1
        if walks > limit or not _walk(P, S, X, w, st):
            while counts[2] > 0:
                inq[queue[counts[1] % n]] = False
                counts[1] += 1
                counts[2] -= 1
            counts[1] = 0
            return False
    counts[1] = 0
    return True


@jit
def _walk_limit(P: Any) -> int:
    return 4 * len(P[13]) + 2 * len(P[1]) + 16


@jit
def _reset(S: Any, X: Any, keep: bool) -> None:
    """Forget a tried move (``keep``: its starts were committed to S)."""
    ov, touched, is_touched = X[0], X[1], X[2]
    virt_k, virt_t, is_virt, vroute = X[3], X[4], X[5], X[6]
    walked, is_walked, counts = X[9], X[10], X[13]
    start = S[4]
    for i in range(counts[0]):
        t = touched[i]
        if not keep:
            ov[t] = start[t]
        is_touched[t] = False
    counts[0] = 0
    for i in range(counts[3]):
        w = walked[i]
        is_walked[w] = False
        t = virt_t[w]
        if t >= 0:
            X[14][t] = 0
            is_virt[t] = False
            vroute[t] = -1
        virt_k[w] = -1
        virt_t[w] = -1
    counts[3] = 0


@jit
def try_insert(
    P: Any, S: Any, X: Any, w1: int, k1: int, t1: int, w2: int, k2: int, t2: int, bound: int
) -> Any:
    """(feasible and cheaper than ``bound``, cost change) of inserting t1 at k1 on
    w1 (and t2 at k2 on w2, a synchronised partner, if t2 >= 0). Leaves the trial
    in X: follow with ``commit`` or ``forget``."""
    ov, touched = X[0], X[1]
    virt_k, virt_t, is_virt, vroute = X[3], X[4], X[5], X[6]
    e, fam = P[3], P[11]
    rtravel, route_of, start = S[6], S[2], S[4]
    counts = X[13]
    counts[7] = 0
    counts[4] = fam[w1, t1] + _detour(P, S, w1, k1, t1)
    if t2 >= 0:
        counts[4] += fam[w2, t2] + _detour(P, S, w2, k2, t2)
    counts[5] = bound
    virt_k[w1], virt_t[w1], is_virt[t1], vroute[t1] = k1, t1, True, w1
    _set_start(P, X, ov, t1, int(e[t1]))
    _enqueue(X, w1)
    if t2 >= 0:
        virt_k[w2], virt_t[w2], is_virt[t2], vroute[t2] = k2, t2, True, w2
        _set_start(P, X, ov, t2, int(e[t2]))
        _enqueue(X, w2)
    ok = counts[4] < bound and _propagate(P, S, X, ov, _walk_limit(P))
    counts[5] = INF
    if not ok:
        # make sure the virtual routes are forgotten even if never walked
        _mark_walked(X, w1)
        if t2 >= 0:
            _mark_walked(X, w2)
        return False, 0
    delta = 0
    for i in range(counts[3]):
        w = X[9][i]
        delta += X[11][w] - rtravel[w]
    for i in range(counts[0]):
        t = touched[i]
        old = _lateness(P[5], P[6], t, int(start[t])) if route_of[t] >= 0 else 0
        delta += _lateness(P[5], P[6], t, int(ov[t])) - old
    delta += fam[w1, t1]
    if t2 >= 0:
        delta += fam[w2, t2]
    delta += P[24] * max(0, counts[7] - counts[8])
    return True, delta


@inline
def _detour(P: Any, S: Any, w: int, k: int, x: int) -> int:
    """Extra travel of putting x at k on w (nothing for a break)."""
    travel, loc = P[0], P[1]
    routes, rlen = S[0], S[1]
    if loc[x] < 0:
        return 0
    here = P[13][w]
    i = k - 1
    while i >= 0:
        if loc[routes[w, i]] >= 0:
            here = loc[routes[w, i]]
            break
        i -= 1
    nxt = P[14][w]
    j = k
    while j < rlen[w]:
        if loc[routes[w, j]] >= 0:
            nxt = loc[routes[w, j]]
            break
        j += 1
    return int(travel[here, loc[x]] + travel[loc[x], nxt] - travel[here, nxt])


@inline
def _mark_walked(X: Any, w: int) -> None:
    if not X[10][w]:
        X[10][w] = True
        X[9][X[13][3]] = w
        X[13][3] += 1


@jit
def forget(S: Any, X: Any) -> None:
    _reset(S, X, False)


@jit
def _insert_at(P: Any, S: Any, w: int, k: int, t: int) -> None:
    routes, rlen, route_of, pos_of, rload = S[0], S[1], S[2], S[3], S[8]
    n = rlen[w]
    for i in range(n, k, -1):
        routes[w, i] = routes[w, i - 1]
        pos_of[routes[w, i]] = i
    routes[w, k] = t
    pos_of[t] = k
    route_of[t] = w
    rlen[w] = n + 1
    rload[w] += P[9][t]


@jit
def commit(P: Any, S: Any, X: Any) -> None:
    """Apply the move last tried (and found feasible) by ``try_insert``."""
    virt_k, virt_t = X[3], X[4]
    counts = X[13]
    start = S[4]
    for i in range(counts[3]):
        w = X[9][i]
        if virt_t[w] >= 0:
            _insert_at(P, S, w, int(virt_k[w]), int(virt_t[w]))
        S[6][w] = X[11][w]
        S[7][w] = X[12][w]
    for i in range(counts[0]):
        t = X[1][i]
        start[t] = X[0][t]
    counts[8] = max(counts[7], counts[8])
    _reset(S, X, True)


@jit
def remove(P: Any, S: Any, t: int) -> None:
    routes, rlen, route_of, pos_of, rload = S[0], S[1], S[2], S[3], S[8]
    w = route_of[t]
    if w < 0:
        return
    k = pos_of[t]
    n = rlen[w]
    for i in range(k, n - 1):
        routes[w, i] = routes[w, i + 1]
        pos_of[routes[w, i]] = i
    routes[w, n - 1] = -1
    rlen[w] = n - 1
    route_of[t] = -1
    pos_of[t] = -1
    rload[w] -= P[9][t]


@jit
def schedule(P: Any, S: Any, X: Any) -> bool:
    """Recompute the earliest schedule of the whole solution; False if infeasible."""
    start, e = S[4], P[3]
    start[:] = e
    X[0][:] = e
    X[13][4] = 0
    for w in range(len(S[1])):
        _enqueue(X, w)
    ok = _propagate(P, S, X, start, 4 * _walk_limit(P))
    if ok:
        for i in range(X[13][3]):
            w = X[9][i]
            S[6][w] = X[11][w]
            S[7][w] = X[12][w]
    X[0][:] = start
    _reset(S, X, True)
    worst = 0
    for t in range(len(start)):
        if S[2][t] >= 0 and P[6][t] > 0:
            worst = max(worst, start[t] - P[5][t])
    X[13][8] = worst
    return ok


@jit
def cost(P: Any, S: Any) -> int:
    """Travel, strangers' visits, lateness, the largest lateness, what is unplanned."""
    loc, due, late, fam = P[1], P[5], P[6], P[11]
    unit_a, unit_b, penalty, maxlate_cost = P[19], P[20], P[21], P[24]
    route_of, start, rtravel = S[2], S[4], S[6]
    total = 0
    for w in range(len(rtravel)):
        total += rtravel[w]
    worst = 0
    for t in range(len(loc)):
        w = route_of[t]
        if w < 0 or loc[t] < 0:
            continue
        total += fam[w, t]
        lt = start[t] - due[t]
        if lt > 0 and late[t] > 0:
            total += late[t] * lt
            if lt > worst:
                worst = lt
    total += maxlate_cost * worst
    for u in range(len(unit_a)):
        if route_of[unit_a[u]] < 0 or (unit_b[u] >= 0 and route_of[unit_b[u]] < 0):
            total += penalty[u]
    return int(total)


# Insertion ------------------------------------------------------------------


@inline
def _bound(
    travel: Any,
    loc: Any,
    dur: Any,
    e: Any,
    latest: Any,
    due: Any,
    late: Any,
    fam: Any,
    w_start: Any,
    w_end: Any,
    shift_s: Any,
    shift_e: Any,
    routes: Any,
    rlen: Any,
    start: Any,
    w: int,
    k: int,
    x: int,
) -> Any:
    """(lower bound on the cost of x at k on w, earliest start there); bound INF
    when a hard rule rules the place out at once. Arrays, not the P and S tuples:
    it runs for every place of every insertion."""
    if loc[x] < 0:
        return fam[w, x], 0
    here = w_start[w]
    free = shift_s[w]
    i = k - 1
    while i >= 0:
        z = routes[w, i]
        if loc[z] >= 0:
            here = loc[z]
            free = start[z] + dur[z]
            break
        i -= 1
    nxt = w_end[w]
    y = -1
    j = k
    while j < rlen[w]:
        z = routes[w, j]
        if loc[z] >= 0:
            nxt = loc[z]
            y = z
            break
        j += 1
    s = max(free + travel[here, loc[x]], e[x])
    if s > latest[x]:
        return INF, s
    reach = s + dur[x] + travel[loc[x], nxt]
    if y >= 0:
        if reach > latest[y]:
            return INF, s
    elif reach > shift_e[w]:
        return INF, s
    lb = travel[here, loc[x]] + travel[loc[x], nxt] - travel[here, nxt] + fam[w, x]
    if s > due[x]:
        lb += late[x] * (s - due[x])
    return lb, s


@jit
def _places(P: Any, S: Any, x: int, blink: float, tail_only: bool) -> Any:
    """Every place x may go (``tail_only``: only after the last stop of a route),
    with bounds, sorted by bound."""
    allowed, demand, capacity = P[10], P[9], P[12]
    travel, loc, dur, e, latest = P[0], P[1], P[2], P[3], P[4]
    due, late, fam = P[5], P[6], P[11]
    w_start, w_end, shift_s, shift_e = P[13], P[14], P[15], P[16]
    routes, rlen, rload, start = S[0], S[1], S[8], S[4]
    n_w = len(rlen)
    size = 0
    for w in range(n_w):
        if allowed[w, x]:
            size += rlen[w] + 1
    cw = np.empty(size, dtype=np.int64)
    ck = np.empty(size, dtype=np.int64)
    cb = np.empty(size, dtype=np.int64)
    cs = np.empty(size, dtype=np.int64)
    m = 0
    for w in range(n_w):
        if not allowed[w, x] or rload[w] + demand[x] > capacity[w]:
            continue
        for k in range(rlen[w] if tail_only else 0, rlen[w] + 1):
            if blink > 0.0 and np.random.random() < blink:
                continue
            lb, s = _bound(
                travel,
                loc,
                dur,
                e,
                latest,
                due,
                late,
                fam,
                w_start,
                w_end,
                shift_s,
                shift_e,
                routes,
                rlen,
                start,
                w,
                k,
                x,
            )
            if lb >= INF:
                continue
            cw[m], ck[m], cb[m], cs[m] = w, k, lb, s
            m += 1
    order = np.argsort(cb[:m], kind="mergesort")
    return cw[order], ck[order], cb[order], cs[order]


@jit
def best_insertion(
    P: Any, S: Any, X: Any, u: int, blink: float, pair_tries: int, tail_only: bool
) -> Any:
    """(found, w1, k1, w2, k2, cost change) of the cheapest place for unit u."""
    a, b = P[19][u], P[20][u]
    best = INF
    bw1, bk1, bw2, bk2 = -1, -1, -1, -1
    if b < 0:
        cw, ck, cb, _ = _places(P, S, a, blink, tail_only)
        for i in range(len(cw)):
            # Past a few dozen places the bound (travel and own lateness) rarely
            # misleads; the cut keeps a round short when lateness chains far.
            if cb[i] >= best or (i >= 3 * pair_tries and bw1 >= 0):
                break
            ok, delta = try_insert(P, S, X, cw[i], ck[i], a, -1, -1, -1, best)
            forget(S, X)
            if ok and delta < best:
                best, bw1, bk1 = delta, cw[i], ck[i]
        return bw1 >= 0, bw1, bk1, -1, -1, best
    push_lag = P[8]
    late, due = P[6], P[5]
    aw, ak, ab, as_ = _places(P, S, a, blink, tail_only)
    bw, bk, bb, bs = _places(P, S, b, blink, tail_only)
    if len(aw) == 0 or len(bw) == 0:
        return False, -1, -1, -1, -1, best
    tries = 0
    for i in range(len(aw)):
        if ab[i] + bb[0] >= best or tries >= pair_tries:
            break
        for j in range(len(bw)):
            if ab[i] + bb[j] >= best or tries >= pair_tries:
                break
            if aw[i] == bw[j]:
                continue
            # the pair's own lateness once both starts meet their lags
            sa = max(as_[i], bs[j] + push_lag[b])
            sb = max(bs[j], sa + push_lag[a])
            lb = ab[i] + bb[j]
            lb += late[a] * (max(0, sa - due[a]) - max(0, as_[i] - due[a]))
            lb += late[b] * (max(0, sb - due[b]) - max(0, bs[j] - due[b]))
            if lb >= best:
                continue
            tries += 1
            ok, delta = try_insert(P, S, X, aw[i], ak[i], a, bw[j], bk[j], b, best)
            forget(S, X)
            if ok and delta < best:
                best, bw1, bk1, bw2, bk2 = delta, aw[i], ak[i], bw[j], bk[j]
    return bw1 >= 0, bw1, bk1, bw2, bk2, best


@jit
def insert_unit(
    P: Any, S: Any, X: Any, u: int, blink: float, pair_tries: int, tail_only: bool
) -> bool:
    found, w1, k1, w2, k2, _ = best_insertion(P, S, X, u, blink, pair_tries, tail_only)
    if not found:
        return False
    a, b = P[19][u], P[20][u]
    ok, _ = try_insert(P, S, X, w1, k1, a, w2, k2, b, INF)
    if ok:
        commit(P, S, X)
    else:
        forget(S, X)
    return bool(ok)


@jit
def place_unit(P: Any, S: Any, X: Any, u: int, w1: int, k1: int, w2: int, k2: int) -> bool:
    """Put unit u at a given place (a warm start) if that is feasible."""
    a, b = P[19][u], P[20][u]
    if not P[10][w1, a] or (b >= 0 and (w2 < 0 or w1 == w2 or not P[10][w2, b])):
        return False
    if S[8][w1] + P[9][a] > P[12][w1]:
        return False
    ok, _ = try_insert(P, S, X, w1, k1, a, w2 if b >= 0 else -1, k2, b, INF)
    if ok:
        commit(P, S, X)
    else:
        forget(S, X)
    return bool(ok)


# Ruin and recreate ------------------------------------------------------------


@jit
def _remove_unit(P: Any, S: Any, u: int) -> None:
    remove(P, S, int(P[19][u]))
    if P[20][u] >= 0:
        remove(P, S, int(P[20][u]))


@inline
def _removable(P: Any, S: Any, t: int) -> bool:
    return S[2][t] >= 0 and not P[18][t] and P[1][t] >= 0


@jit
def _ruin(P: Any, S: Any, avg_remove: float, mode: int) -> Any:
    """Take units off their routes; returns how many and which (with the unplanned)."""
    loc, task_unit, neighbours, unit_a = P[1], P[22], P[23], P[19]
    routes, rlen, route_of, pos_of = S[0], S[1], S[2], S[3]
    n_units = len(unit_a)
    out = np.empty(n_units, dtype=np.int64)
    taken = np.zeros(n_units, dtype=np.bool_)
    m = 0
    planned = np.empty(len(loc), dtype=np.int64)
    n_planned = 0
    for t in range(len(loc)):
        if _removable(P, S, t):
            planned[n_planned] = t
            n_planned += 1
    if n_planned > 0:
        target = max(1, min(n_planned, int(np.random.random() * 2.0 * avg_remove) + 1))
        if mode == 0:  # strings of neighbouring routes (SISR)
            n_routes = 0
            for w in range(len(rlen)):
                if rlen[w] > 0:
                    n_routes += 1
            avg_len = max(1.0, n_planned / max(1, n_routes))
            max_len = min(10.0, avg_len)
            max_strings = max(1.0, 4.0 * avg_remove / (1.0 + max_len) - 1.0)
            strings = int(np.random.random() * max_strings) + 1
            ruined = np.zeros(len(rlen), dtype=np.bool_)
            seed = planned[np.random.randint(0, n_planned)]
            done = 0
            for j in range(-1, neighbours.shape[1]):
                c = seed if j < 0 else neighbours[seed, j]
                if c < 0 or done >= strings:
                    break
                if not _removable(P, S, c) or ruined[route_of[c]]:
                    continue
                w = route_of[c]
                ruined[w] = True
                done += 1
                length = int(np.random.random() * min(max_len, rlen[w])) + 1
                first = pos_of[c] - np.random.randint(0, length)
                first = max(0, min(first, rlen[w] - length))
                picks = routes[w, first : first + length].copy()
                for t in picks:
                    if t >= 0 and _removable(P, S, t) and not taken[task_unit[t]]:
                        taken[task_unit[t]] = True
                        out[m] = task_unit[t]
                        m += 1
        elif mode == 1:  # random
            for _ in range(target):
                t = planned[np.random.randint(0, n_planned)]
                if not taken[task_unit[t]]:
                    taken[task_unit[t]] = True
                    out[m] = task_unit[t]
                    m += 1
        else:  # the latest (lateness), else the costliest detours
            start, due, late, travel = S[4], P[5], P[6], P[0]
            score = np.empty(n_planned, dtype=np.float64)
            for i in range(n_planned):
                t = planned[i]
                lt = max(0, start[t] - due[t]) * late[t]
                w = route_of[t]
                k = pos_of[t]
                prev = P[13][w] if k == 0 else loc[routes[w, k - 1]]
                nxt = P[14][w] if k == rlen[w] - 1 else loc[routes[w, k + 1]]
                if prev < 0 or nxt < 0:
                    detour = 0
                else:
                    detour = travel[prev, loc[t]] + travel[loc[t], nxt] - travel[prev, nxt]
                score[i] = (lt + detour) * (0.7 + 0.6 * np.random.random())
            order = np.argsort(-score)
            for i in range(min(target, n_planned)):
                t = planned[order[i]]
                if not taken[task_unit[t]]:
                    taken[task_unit[t]] = True
                    out[m] = task_unit[t]
                    m += 1
    for i in range(m):
        _remove_unit(P, S, int(out[i]))
    # Units left unplanned before get another chance too.
    for u in range(n_units):
        if not taken[u] and route_of[unit_a[u]] < 0:
            out[m] = u
            m += 1
    return out[:m]


@jit
def _order(P: Any, units: Any, how: int) -> Any:
    """Recreate order: breaks first, then random, by opening, by width, pairs first."""
    loc, e, latest, due = P[1], P[3], P[4], P[5]
    unit_a, unit_b = P[19], P[20]
    key = np.empty(len(units), dtype=np.float64)
    for i in range(len(units)):
        a = unit_a[units[i]]
        r = np.random.random()
        if how == 0:
            k = r
        elif how == 1:
            k = e[a] + r
        elif how == 2:
            k = min(latest[a], due[a] + 1) - e[a] + r
        else:
            k = (0.0 if unit_b[units[i]] >= 0 else 1.0) * 1e12 + r
        if loc[a] < 0:
            k = -1e18
        key[i] = k
    return units[np.argsort(key, kind="mergesort")]


@jit
def recreate(P: Any, S: Any, X: Any, units: Any, blink: float, pair_tries: int) -> None:
    for u in units:
        insert_unit(P, S, X, int(u), blink, pair_tries, False)


@jit
def search(
    P: Any,
    S: Any,
    best: Any,
    backup: Any,
    X: Any,
    iterations: int,
    progress0: float,
    progress1: float,
    temp0: float,
    temp1: float,
    avg_remove: float,
    pair_tries: int,
    costs: Any,
) -> int:
    """Ruin and recreate with simulated annealing for ``iterations`` rounds; costs
    holds [current, best]. Returns how many rounds improved the best."""
    improved = 0
    for it in range(iterations):
        progress = progress0 + (progress1 - progress0) * it / max(1, iterations)
        temp = temp0 * (temp1 / temp0) ** progress
        copy_state(S, backup)
        r = np.random.random()
        if r < 0.6:
            mode = 0
        elif r < 0.8:
            mode = 1
        else:
            mode = 2
        units = _ruin(P, S, avg_remove, mode)
        schedule(P, S, X)
        units = _order(P, units, np.random.randint(0, 4))
        recreate(P, S, X, units, 0.01, pair_tries)
        ok = schedule(P, S, X)
        c = cost(P, S) if ok else INF
        if ok and c < costs[0] - temp * np.log(np.random.random()):
            costs[0] = c
            if c < costs[1]:
                costs[1] = c
                copy_state(S, best)
                improved += 1
        else:
            copy_state(backup, S)
            X[0][:] = S[4]
    return improved
