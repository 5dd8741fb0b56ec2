"""Which households to visit: seeded random, stratified by village, risk-based, or a list.

Every strategy works on a DataFrame of candidate households (one row each, ``household_id``
and ``village_code`` at least) and returns the chosen rows, ordered by ``household_id``,
with ``risk_score`` and ``risk_reasons`` for the risk strategy. The draws come from
``numpy.random.default_rng(seed)`` over the rows sorted by ``household_id``, so the same
candidates and seed give the same sample.

Risk criteria (:func:`risk_criteria`, weights in ``[routes.risk_weights]``) — the issue's
list, thresholds from the ``[monitoring]`` section (``geo.flags``):

======================= ===================================================================
exited_low_income       已脱贫, latest per-capita income below that year's exit line
                        (seed 002 §3; "数字脱贫", seed 003)
sanbaozhang_unmet       a school-age member out of school, or a seriously ill member and no
                        medical-aid help record (两不愁三保障, seeds 002/003)
dangerous_house         still a C/D-grade dangerous house (住房安全, seeds 002 §10, 003)
no_help_record          a household still to help without a help record for ``no_help_days``
no_cadre                no responsible cadre (seeds 003/004)
outside_village         the point lies more than ``outside_village_m`` outside its village
not_visited_quarter     no inspection visit in the calendar quarter (seed 001 每季一督查)
monitoring_flag         a record flag of ``gongjian flags`` (point in a river, shared or moved
                        point, duplicate ID number, income jump, status flip-flop)
======================= ===================================================================

With the monitoring flags of ``layers.flags`` (:func:`merge_flags`), a flag of the same rule
also sets our criterion (e.g. ``exited_low_income``).

>>> import pandas as pd
>>> frame = pd.DataFrame({"household_id": range(1, 9), "village_code": list("aaaaaabb")})
>>> sample_stratified(frame, 4, seed=1).village_code.value_counts().sort_index().tolist()
[3, 1]
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.flags import MonitoringPolicy, exit_line
from geo.routing.policy import RISK_CRITERIA

STRATEGIES = ("random", "stratified", "risk")


class SamplingError(ValueError):
    """A sample that cannot be drawn as asked; the message says why."""


def sample(
    frame: pd.DataFrame,
    strategy: str,
    n: int,
    *,
    seed: int = 0,
    weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Dispatch to the strategy (``risk`` needs the criteria columns of :func:`risk_criteria`)."""
    if strategy == "random":
        return sample_random(frame, n, seed=seed)
    if strategy == "stratified":
        return sample_stratified(frame, n, seed=seed)
    if strategy == "risk":
        return sample_risk(frame, n, seed=seed, weights=weights)
    raise SamplingError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")


def _check(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    if n < 1:
        raise SamplingError(f"the sample needs at least one household, got {n}")
    if len(frame) == 0:
        raise SamplingError("no households to sample from")
    return frame.sort_values("household_id").reset_index(drop=True)


def sample_random(frame: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` households drawn uniformly (all of them when there are fewer)."""
    frame = _check(frame, n)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(frame), size=min(n, len(frame)), replace=False)
    return frame.iloc[np.sort(chosen)].reset_index(drop=True)


def allocate(sizes: pd.Series, n: int) -> pd.Series:
    """Households per stratum: proportional to ``sizes`` (largest remainder), at least one
    each, never more than a stratum has.

    >>> allocate(pd.Series({"a": 60, "b": 30, "c": 10}), 10).tolist()
    [6, 3, 1]
    >>> allocate(pd.Series({"a": 97, "b": 2, "c": 1}), 5).tolist()
    [3, 1, 1]
    """
    sizes = sizes.sort_index()
    total = int(sizes.sum())
    n = min(n, total)
    if n < len(sizes):
        raise SamplingError(
            f"a stratified sample of {n} cannot hold one household from each of the "
            f"{len(sizes)} villages: sample at least {len(sizes)}, or use --strategy random"
        )
    ideal = sizes / total * n  # the proportional share of each stratum
    alloc = pd.Series(1, index=sizes.index)
    for _ in range(n - len(sizes)):
        # one more to the stratum furthest below its share that still has households
        deficit = (ideal - alloc).where(sizes > alloc, -np.inf)
        alloc[deficit.idxmax()] += 1
    return alloc


def sample_stratified(frame: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` households, split over villages in proportion to their households, at least
    one per village; drawn at random within each village."""
    frame = _check(frame, n)
    rng = np.random.default_rng(seed)
    alloc = allocate(frame.groupby("village_code").size(), n)
    picked = []
    for village, count in alloc.items():
        rows = np.flatnonzero(frame.village_code.to_numpy() == village)
        picked.append(rng.choice(rows, size=int(count), replace=False))
    return frame.iloc[np.sort(np.concatenate(picked))].reset_index(drop=True)


def sample_risk(
    frame: pd.DataFrame, n: int, *, seed: int = 0, weights: dict[str, float] | None = None
) -> pd.DataFrame:
    """The ``n`` households of highest risk score (ties broken by a seeded draw); when fewer
    than ``n`` meet any criterion, the rest are drawn at random from the others."""
    frame = _check(frame, n).copy()
    weights = weights or dict.fromkeys(RISK_CRITERIA, 1.0)
    missing = [c for c in weights if c not in frame.columns]
    if missing:
        raise SamplingError(f"risk sampling needs the criteria columns {missing}")
    flags = frame[list(weights)].fillna(False).astype(bool)
    frame["risk_score"] = flags.to_numpy() @ np.array(list(weights.values()), dtype=float)
    frame["risk_reasons"] = [
        [c for c in weights if row[c]] for row in flags.to_dict(orient="records")
    ]
    tie = np.random.default_rng(seed).permutation(len(frame))
    order = np.lexsort((tie, -frame.risk_score.to_numpy()))
    chosen = np.sort(order[: min(n, len(frame))])
    return frame.iloc[chosen].reset_index(drop=True)


def risk_criteria(frame: pd.DataFrame, as_of: dt.date, policy: MonitoringPolicy) -> pd.DataFrame:
    """The risk criteria as boolean columns, from the facts :func:`layers.routes.candidates`
    reads (status, income, income_year, labour_members, school_age_out, serious_no_medical,
    housing_status, last_help, cadre_id, outside_village_m, last_visit)."""
    out = frame.copy()
    lines = [
        exit_line(policy, int(year), labour=bool(labour > 0)) if pd.notna(year) else np.nan
        for year, labour in zip(out.income_year, out.labour_members, strict=True)
    ]
    income = pd.to_numeric(out.income, errors="coerce")
    out["exited_low_income"] = (out.status == "exited") & (income < np.array(lines, dtype=float))
    out["sanbaozhang_unmet"] = (out.school_age_out.fillna(0) > 0) | out.serious_no_medical.fillna(
        False
    ).astype(bool)
    out["dangerous_house"] = out.housing_status.isin(("dangerous_c", "dangerous_d"))
    since = pd.Timestamp(as_of - dt.timedelta(days=policy.no_help_days))
    last_help = pd.to_datetime(out.last_help)
    out["no_help_record"] = out.status.isin(policy.help_statuses) & (
        last_help.isna() | (last_help < since)
    )
    out["no_cadre"] = out.cadre_id.isna()
    out["outside_village"] = out.outside_village_m.fillna(0) > policy.outside_village_m
    quarter = pd.Timestamp(quarter_start(as_of))
    last_visit = pd.to_datetime(out.last_visit)
    out["not_visited_quarter"] = last_visit.isna() | (last_visit < quarter)
    return out


# monitoring flag kinds (geo.flags.FLAG_KINDS) → the risk criterion they set
FLAG_CRITERIA: dict[str, str] = {
    "exited_low_income": "exited_low_income",
    "exited_sanbaozhang": "sanbaozhang_unmet",
    "exited_dangerous_house": "dangerous_house",
    "no_help_record": "no_help_record",
    "outside_village": "outside_village",
    "in_river": "monitoring_flag",
    "shared_point": "monitoring_flag",
    "moved": "monitoring_flag",
    "duplicate_id_number": "monitoring_flag",
    "income_jump": "monitoring_flag",
    "status_flip_flop": "monitoring_flag",
}


def merge_flags(frame: pd.DataFrame, flags: dict[int, list[str]]) -> pd.DataFrame:
    """Set the criteria of the monitoring flags raised on each household (``household_id``
    → flag kinds, from ``layers.flags``); ``monitoring_flags`` lists them.

    >>> frame = pd.DataFrame({"household_id": [1, 2], "no_help_record": [False, True]})
    >>> out = merge_flags(frame, {1: ["no_help_record", "moved"]})
    >>> out.no_help_record.tolist(), out.monitoring_flag.tolist()
    ([True, True], [True, False])
    """
    out = frame.copy()
    kinds = out.household_id.map(lambda h: flags.get(int(h), []))
    out["monitoring_flags"] = kinds
    if "monitoring_flag" not in out.columns:
        out["monitoring_flag"] = False
    for kind, criterion in FLAG_CRITERIA.items():
        raised = kinds.map(lambda ks, k=kind: k in ks).astype(bool)
        out[criterion] = out.get(criterion, False) | raised
    return out


def quarter_start(day: dt.date) -> dt.date:
    """First day of the calendar quarter of ``day``.

    >>> quarter_start(dt.date(2018, 11, 5))
    datetime.date(2018, 10, 1)
    """
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
