"""Benchmark: can an auditor trust the flags? Precision and recall against the demo's
planted anomalies, and the share of households flagged at every month-end 2016–2019.

The synthetic Lianzhou demo (``gongjian demo``; loaded here when missing) plants anomalies
on purpose (geo/demo/people.py ``planted_anomalies``; layers/history.py
``planted_history_anomalies``): incomes ×6–10 (income_jump), households neglected after
their first visit (no_help_record) and their seriously ill members without 医保救助
(exited_sanbaozhang), exits from C/D-grade houses (exited_dangerous_house), lazy cadres
(cadre_idle), registration points corrected later (moved), exits reverted and made again
(status_flip_flop). Every other household is ordinary: quarterly records while still to
help, incomes that rise 1.1–4.5× in an exit year.

For each month-end, with the policy profile's thresholds (geo/policy/default.toml):

* precision of each planted kind: flagged and planted / flagged;
* recall: flagged and planted / planted — at the last month-end for the lasting anomalies;
  month by month for the neglect (still to help that day, no record for no_help_days);
* flagged share: households with any flag / households registered that day.

The peer is the earlier policy, income jumps above 3× (``--peer-factor``), measured the same
way on the last month-end of 2018: the ratio of its income_jump precision to ours, and of
the flagged shares. Targets: recall ≥ 0.95, precision ≥ 0.8,
flagged share ≤ 6 %. The last line is one JSON object.

    GONGJIAN_HOME=… python bench/flags_quality.py [--months 2016-01:2019-12] [--step 1]
"""

from __future__ import annotations

import argparse
import calendar
import dataclasses
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.flags import monitoring_policy  # noqa: E402
from geo.policy import load_profile  # noqa: E402
from layers.flags import FlagQuery, compute_flags  # noqa: E402
from layers.history import planted_history_anomalies  # noqa: E402

LASTING = ("income_jump", "exited_sanbaozhang", "exited_dangerous_house", "moved",
           "status_flip_flop")  # fmt: skip
TIMELY = ("no_help_record", "cadre_idle")
COUNTY = "441882"


def month_ends(first: str, last: str, step: int) -> list[dt.date]:
    year, month = map(int, first.split("-"))
    end_year, end_month = map(int, last.split("-"))
    days = []
    while (year, month) <= (end_year, end_month):
        days.append(dt.date(year, month, calendar.monthrange(year, month)[1]))
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return days


def planted(engine: sa.Engine) -> pd.DataFrame:
    """The generator's planted anomalies (regenerated from the demo's seed) plus the
    history's; (household_id, cadre_id, kind)."""
    from geo.demo.people import generate_people
    from geo.demo.world import build_geography, load_county
    from layers.demo import DEMO_SEED, LIANZHOU

    with tempfile.TemporaryDirectory() as work:
        geography = build_geography(load_county(LIANZHOU), DEMO_SEED, Path(work))
        people = generate_people(
            geography.townships, geography.villages, geography.hamlets, DEMO_SEED
        )
    with engine.connect() as conn:
        history = planted_history_anomalies(conn)
    history["cadre_id"] = pd.array([None] * len(history), dtype="Int64")
    return pd.concat([people.planted, history], ignore_index=True)


TRUTH_NEGLECT = """
SELECT a.id FROM flags_now_households a
WHERE a.id = ANY(:neglected) AND a.status = ANY(:help_statuses)
  AND a.since < CAST(:day AS date) - :no_help_days
  AND NOT EXISTS (SELECT 1 FROM help_record r WHERE r.household_id = a.id
                  AND r.date <= :day AND r.date >= CAST(:day AS date) - :no_help_days)
"""
# a lazy cadre, or one whose every household still to help is a neglected one
TRUTH_IDLE = """
SELECT a.cadre_id FROM flags_now_households a
WHERE a.cadre_id IS NOT NULL AND a.status = ANY(:help_statuses)
GROUP BY a.cadre_id
HAVING (bool_or(a.cadre_id = ANY(:lazy)) OR bool_and(a.id = ANY(:neglected)))
  AND min(a.since) < CAST(:day AS date) - :cadre_idle_days
  AND NOT EXISTS (SELECT 1 FROM help_record r WHERE r.cadre_id = a.cadre_id
                  AND r.date <= :day AND r.date >= CAST(:day AS date) - :cadre_idle_days)
"""


def measure_day(conn, day: dt.date, policy, truth: pd.DataFrame) -> dict:
    with conn.begin():
        table = compute_flags(conn, FlagQuery(COUNTY, day), policy)
        flags = pd.read_sql(sa.text(f"SELECT kind, household_id, cadre_id FROM {table}"), conn)
        households = conn.execute(sa.text("SELECT count(*) FROM flags_now_households")).scalar()
        params = {
            "day": day,
            "help_statuses": list(policy.help_statuses),
            "no_help_days": policy.no_help_days,
            "cadre_idle_days": policy.cadre_idle_days,
            "neglected": _ids(truth, "no_help_record", "household_id"),
            "lazy": _ids(truth, "cadre_idle", "cadre_id"),
        }
        due = {
            "no_help_record": set(conn.execute(sa.text(TRUTH_NEGLECT), params).scalars()),
            "cadre_idle": set(conn.execute(sa.text(TRUTH_IDLE), params).scalars()),
        }
    flagged = flags["household_id"].dropna().nunique()
    result = {"day": day, "share": 100 * flagged / max(households, 1), "kinds": {}}
    for kind in (*LASTING, *TIMELY):
        column = "cadre_id" if kind == "cadre_idle" else "household_id"
        found = set(flags.loc[flags["kind"] == kind, column].dropna().astype(int))
        planted_ = due[kind] if kind in TIMELY else set(_ids(truth, kind, column))
        result["kinds"][kind] = (found, planted_)
    result["counts"] = flags["kind"].value_counts().to_dict()
    return result


def _ids(truth: pd.DataFrame, kind: str, column: str) -> list[int]:
    return [int(i) for i in truth.loc[truth["kind"] == kind, column].dropna()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", default="2016-01:2019-12", help="FIRST:LAST month")
    parser.add_argument("--step", type=int, default=1, help="every STEP-th month-end")
    parser.add_argument("--peer-factor", type=float, default=3.0, help="the peer's jump factor")
    args = parser.parse_args()
    from api.cli_common import ready_engine
    from layers.demo import ensure_demo
    from layers.settings import DatabaseSettings

    engine = ready_engine()
    ensure_demo(engine, DatabaseSettings().home)
    policy = monitoring_policy(load_profile())
    started = time.perf_counter()
    truth = planted(engine)
    days = month_ends(*args.months.split(":"), args.step)
    precision: dict[str, list[float]] = {}
    recall: dict[str, list[float]] = {}
    shares = []
    with engine.connect() as conn:
        conn.commit()
        for day in days:
            result = measure_day(conn, day, policy, truth)
            shares.append(result["share"])
            for kind, (found, planted_) in result["kinds"].items():
                if found:
                    precision.setdefault(kind, []).append(len(found & planted_) / len(found))
                lasting_end = kind in LASTING and day == days[-1]
                if planted_ and (kind in TIMELY or lasting_end):
                    recall.setdefault(kind, []).append(len(found & planted_) / len(planted_))
            print(
                f"{day}  flagged {result['share']:4.1f} %  "
                + " ".join(f"{k}={v}" for k, v in sorted(result["counts"].items())),
                flush=True,
            )
    print(f"\n{'kind':24} {'min precision':>14} {'min recall':>11} {'planted':>8}")
    for kind in (*LASTING, *TIMELY):
        p, r = precision.get(kind, [1.0]), recall.get(kind, [float("nan")])
        n = len(_ids(truth, kind, "cadre_id" if kind == "cadre_idle" else "household_id"))
        print(f"{kind:24} {min(p):14.3f} {min(r):11.3f} {n:8d}")
    peer_day = dt.date(2018, 12, 31)
    with engine.connect() as conn:
        conn.commit()
        ours = measure_day(conn, peer_day, policy, truth)
        peer_policy = dataclasses.replace(policy, income_jump_factor=args.peer_factor)
        peer = measure_day(conn, peer_day, peer_policy, truth)

    def jump_precision(result: dict) -> float:
        found, planted_ = result["kinds"]["income_jump"]
        return len(found & planted_) / max(len(found), 1)

    print(
        f"\n{peer_day}: income_jump precision {jump_precision(ours):.3f} (ours, "
        f"{policy.income_jump_factor:g}×) vs {jump_precision(peer):.3f} (peer, "
        f"{args.peer_factor:g}×); flagged {ours['share']:.1f} % vs {peer['share']:.1f} %"
    )
    summary = {
        "bench": "flags_quality",
        "months": len(days),
        "min_recall": round(min(min(r) for r in recall.values()), 3),
        "min_precision": round(min(min(p) for p in precision.values()), 3),
        "max_flagged_share_pct": round(max(shares), 2),
        "income_jump_precision_ratio_vs_peer": round(
            jump_precision(ours) / max(jump_precision(peer), 1e-9), 2
        ),
        "flagged_share_ratio_peer_vs_ours": round(peer["share"] / max(ours["share"], 1e-9), 2),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
