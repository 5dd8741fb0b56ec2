"""What changed for each household between two dates of the archive (动态档案).

Input: one row per household that was in the area on either day, with its status and
village on the earlier day (``status_before``, ``village_before``: missing when it was not
in the area then), on the later day (``status_now``, ``village_now``: missing when it has
left), ``moved_m`` (metres between its two positions) and ``first_day`` (its registration).
The change map and its table read the result; nothing here touches a database.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

#: A position change below this is a correction of the point, not a move (GPS noise).
MOVE_TOLERANCE_M = 100.0

#: Kinds of change in the order the map ranks them (one ring per household: the first).
KINDS = {
    "returned": "返贫",
    "new": "新识别",
    "exited": "脱贫",
    "moved": "位置变更或迁入",
    "moved_out": "迁出本镇",
}


def household_changes(rows: pd.DataFrame, since: dt.date) -> pd.Series:
    """The kinds of change of each row (a tuple in :data:`KINDS` order; empty: unchanged).

    >>> rows = pd.DataFrame({
    ...     "status_before": ["poor", "exited", None, "poor", "poor"],
    ...     "status_now": ["exited", "returned", "poor", None, "poor"],
    ...     "village_before": ["A", "A", None, "A", "A"],
    ...     "village_now": ["A", "A", "B", None, "A"],
    ...     "moved_m": [0.0, 0.0, None, None, 5.0],
    ...     "first_day": [dt.date(2016, 1, 1)] * 5})
    >>> rows.loc[2, "first_day"] = dt.date(2018, 3, 1)
    >>> household_changes(rows, dt.date(2017, 1, 1)).tolist()
    [('exited',), ('returned',), ('new',), ('moved_out',), ()]
    """
    out = []
    for r in rows.itertuples(index=False):
        kinds: set[str] = set()
        before, now = _value(r.status_before), _value(r.status_now)
        if now is None:
            kinds.add("moved_out")
        elif before is None:  # not in the area on the earlier day
            registered_later = r.first_day is not None and r.first_day > since
            kinds.add("new" if registered_later else "moved")
            if registered_later and now in ("exited", "returned"):
                kinds.add(now)
        else:
            if now == "exited" and before != "exited":
                kinds.add("exited")
            if now == "returned" and before != "returned":
                kinds.add("returned")
            moved = _value(r.moved_m)
            if r.village_before != r.village_now or (moved or 0.0) > MOVE_TOLERANCE_M:
                kinds.add("moved")
        out.append(tuple(k for k in KINDS if k in kinds))
    return pd.Series(out, index=rows.index, dtype=object)


def _value(v):
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def count_changes(kinds: pd.Series) -> dict[str, int]:
    """Households per kind (a household with two kinds counts in both), every kind listed."""
    counts = dict.fromkeys(KINDS, 0)
    for row in kinds:
        for kind in row:
            counts[kind] += 1
    return counts
