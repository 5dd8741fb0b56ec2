"""Benchmark: the county monthly report in SQL against the same figures in pandas.

The province-scale synthetic set (708,000 households over the real Guangdong counties,
geo/demo/province.py, seed 1; generated once and cached in /tmp) is loaded into a throw-away
embedded cluster with COPY (layers/bulk.py): townships and villages drawn around the
households, cadres (about ten households each), incomes 2015–2018 and ~3 help records per
household; the triggers of migration 0005 write the history as it loads, then
``backfill_demo_history`` rebuilds a dated history (registration, incomes, exits, 返贫,
rebuilt houses) for every household — about 4 M versions.

Then, for the county with the most households and one month, side by side in one run:

* ours: ``layers.reports`` — the report's temporary tables and every figure in SQL
  (households/people by status, exits and returns this month/year, month-by-month progress,
  income bands and histogram, dangerous houses, help records per measure and per cadre);
* peer: pandas from a full export — the history, help records and households exported with
  COPY to CSV and read by pandas, then the same figures with groupby/merge (vectorised).

Both results are compared figure by figure (they must be equal) before timing counts.
ratio = pandas time (export + compute) / our time; the compute-only ratio is printed too.
The last line is one JSON object.

    python bench/report_scale.py [--households 708000] [--month 2018-06] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.demo.province import PROVINCE_HOUSEHOLDS, write_province_gpkg  # noqa: E402
from geo.flags import Period, exit_line, monitoring_policy  # noqa: E402
from geo.paths import GUANGDONG_COUNTIES  # noqa: E402
from geo.policy import load_profile  # noqa: E402
from layers.bulk import copy_frame, reset_sequence  # noqa: E402
from layers.cluster import EmbeddedCluster  # noqa: E402
from layers.history import backfill_demo_history  # noqa: E402
from layers.importers import import_boundaries  # noqa: E402
from layers.migrate import upgrade  # noqa: E402
from layers.reports import _params, find_area, prepare, report_figures  # noqa: E402

SEED = 1
CACHE = Path(tempfile.gettempdir()) / "gongjian-bench"
VILLAGE_MARGIN = 0.002  # degrees around a village's households (~200 m)
HOUSEHOLDS_PER_CADRE = 10
RECORDS_PER_HOUSEHOLD = 3
MEASURES = (
    "policy",
    "industry",
    "employment",
    "social_security",
    "education",
    "medical",
    "housing",
    "finance",
    "asset_income",
)
DANGEROUS = ("dangerous_c", "dangerous_d")
REBUILT = ("renovated", "relocated")


def step(message: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {message} ({now - started:.1f} s)", flush=True)
    return now


def province_file(households: int) -> Path:
    """The cached province GeoPackage in /tmp, generated when missing (~20 s)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"province-seed{SEED}-{households}.gpkg"
    if not path.exists():
        print(f"generating {path} …", flush=True)
        partial = path.with_suffix(".partial.gpkg")
        write_province_gpkg(partial, SEED, n_households=households)
        partial.rename(path)
    return path


# --- loading ------------------------------------------------------------------------------


def places(households: pd.DataFrame, villages: pd.DataFrame):
    """Villages: the hull of their households plus ~200 m; townships: hull of their villages."""
    codes, index = np.unique(households["village_code"].to_numpy().astype(str), return_inverse=True)
    hulls = shapely.buffer(
        shapely.convex_hull(shapely.multipoints(households.geometry.to_numpy(), indices=index)),
        VILLAGE_MARGIN,
    )
    villages = villages.set_index("code").loc[codes].reset_index()
    villages["geom"] = [shapely.multipolygons([h]) for h in hulls]
    villages["township_code"] = villages["code"].str[:9]
    township_of, _ = pd.factorize(villages["township_code"])
    towns = villages.groupby("township_code", sort=False).agg(county_code=("county_code", "first"))
    ring = shapely.get_coordinates(shapely.boundary(hulls))
    parts = shapely.multipoints(
        ring, indices=np.repeat(township_of, shapely.get_num_coordinates(shapely.boundary(hulls)))
    )
    towns["geom"] = [
        shapely.multipolygons([shapely.buffer(g, 0.001)]) for g in shapely.convex_hull(parts)
    ]
    towns = towns.reset_index().rename(columns={"township_code": "code"})
    towns["name"] = towns["code"].str[-3:] + "镇"
    return (
        gpd.GeoDataFrame(villages, geometry="geom", crs=4326),
        gpd.GeoDataFrame(towns, geometry="geom", crs=4326),
    )


def cadres_for(households: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """About ten households per cadre within each township; returns (cadres, cadre_id)."""
    town = households["village_code"].str[:9].to_numpy()
    rank = pd.Series(town).groupby(town).cumcount().to_numpy()
    key = np.char.add(town.astype(str), (rank // HOUSEHOLDS_PER_CADRE).astype(str).astype("U6"))
    ids, index = np.unique(key, return_index=True)
    cadre_of = np.searchsorted(ids, key) + 1
    cadres = pd.DataFrame(
        {
            "id": np.arange(1, len(ids) + 1),
            "name": [f"干部{i}" for i in range(1, len(ids) + 1)],
            "unit": "县扶贫办",
            "unit_level": "county",
            "township_code": town[index],
            "synthetic": True,
        }
    )
    return cadres, cadre_of


def help_records(households: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(households) * RECORDS_PER_HOUSEHOLD
    which = np.repeat(np.arange(len(households)), RECORDS_PER_HOUSEHOLD)
    start = np.datetime64("2016-03-01")
    days = (np.datetime64("2018-12-31") - start).astype(int)
    measure = np.array(MEASURES)[rng.integers(0, len(MEASURES), n)]
    amount = np.where(rng.random(n) < 0.5, np.round(rng.uniform(200, 20000, n), -1), np.nan)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "household_id": households["id"].to_numpy()[which],
            "date": start + rng.integers(0, days + 1, n).astype("timedelta64[D]"),
            "cadre_id": households["cadre_id"].to_numpy()[which],
            "measure": measure,
            "amount": amount,
            "signed_household": rng.random(n) < 0.97,
            "signed_village": rng.random(n) < 0.96,
            "signed_cadre": rng.random(n) < 0.97,
        }
    )


def load(engine: sa.Engine, gpkg: Path) -> int:
    started = time.perf_counter()
    households = pyogrio.read_dataframe(gpkg, layer="households")
    villages = pyogrio.read_dataframe(gpkg, layer="villages", read_geometry=False)
    households = households.rename_geometry("geom")
    started = step(f"read {len(households):,} households", started)
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
    villages, towns = places(households, villages)
    cadres, cadre_of = cadres_for(households)
    households["cadre_id"] = cadre_of
    households["exit_year"] = households["exit_year"].astype("Int64")
    rng = np.random.default_rng(SEED)
    records = help_records(households, rng)
    incomes = pd.DataFrame(
        {
            "household_id": np.repeat(households["id"].to_numpy(), 4),
            "year": np.tile([2015, 2016, 2017, 2018], len(households)),
            "per_capita_income": households[[f"income_{y}" for y in (2015, 2016, 2017, 2018)]]
            .to_numpy()
            .ravel(),
        }
    )
    started = step("places, cadres, incomes and help records made", started)
    household_columns = [
        "id",
        "household_no",
        "village_code",
        "geom",
        "head_name",
        "id_number",
        "phone",
        "members",
        "labour_members",
        "category",
        "main_cause",
        "secondary_cause",
        "housing_status",
        "status",
        "exit_year",
        "cadre_id",
        "scattered",
        "registered_year",
        "synthetic",
    ]
    with engine.begin() as conn:
        copy_frame(
            conn,
            "township",
            towns.assign(synthetic=True),
            ["code", "county_code", "name", "geom", "synthetic"],
        )
        copy_frame(
            conn,
            "village",
            villages.assign(synthetic=True),
            ["code", "township_code", "name", "geom", "is_poor_village", "key_level", "synthetic"],
        )
        copy_frame(conn, "cadre", cadres, list(cadres.columns))
        started = step("townships, villages, cadres copied", started)
        copy_frame(conn, "household", households, household_columns)
        started = step("households copied (history trigger included)", started)
        copy_frame(conn, "household_income", incomes, list(incomes.columns))
        started = step(f"{len(incomes):,} incomes copied (history trigger included)", started)
        copy_frame(conn, "help_record", records, list(records.columns))
        for table in ("household", "cadre", "help_record"):
            reset_sequence(conn, table)
        started = step(f"{len(records):,} help records copied", started)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    with engine.begin() as conn:
        versions = backfill_demo_history(conn)
    step(f"history backfilled: {versions:,} versions", started)
    return len(households)


# --- ours ---------------------------------------------------------------------------------


def ours(engine: sa.Engine, county: str, period: Period) -> tuple[float, dict]:
    profile = load_profile()
    policy = monitoring_policy(profile)
    started = time.perf_counter()
    with engine.begin() as conn:
        area = find_area(conn, county)
        params = _params(area, period, policy)
        prepare(conn, params)
        figures = report_figures(conn, area, period, policy, params)
    return time.perf_counter() - started, figures


# --- peer: pandas from a full export ------------------------------------------------------

EXPORTS = {
    "history": "SELECT id, household_id, valid_from, village_code, members, labour_members, "
    "status, housing_status, cadre_id, income, income_year FROM household_history",
    "help": "SELECT household_id, date, cadre_id, measure, amount, signed_household, "
    "signed_village, signed_cadre FROM help_record",
    "households": "SELECT id, scattered FROM household",
}
DATES = {"history": ["valid_from"], "help": ["date"], "households": []}
TYPES = {"village_code": str}


def export(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """The full tables through COPY … TO STDOUT (CSV), read by pandas."""
    frames = {}
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for name, sql in EXPORTS.items():
                buffer = io.BytesIO()
                with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                buffer.seek(0)
                frames[name] = pd.read_csv(
                    buffer,
                    parse_dates=DATES[name],
                    dtype=TYPES,
                    true_values=["t"],
                    false_values=["f"],
                )
    finally:
        raw.close()
    return frames


def last_per(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.drop_duplicates(keys, keep="last")


def pandas_figures(data: dict, county: str, period: Period, policy) -> dict:
    """The report's figures from the exported tables, with pandas only."""
    as_of = pd.Timestamp(period.as_of)
    month_start, year_start = pd.Timestamp(period.start), pd.Timestamp(period.year_start)
    history = data["history"]
    ever_here = history.loc[history["village_code"].str.startswith(county), "household_id"]
    ver = history[
        history["household_id"].isin(ever_here.unique()) & (history["valid_from"] <= as_of)
    ]
    ver = ver.sort_values(["household_id", "valid_from", "id"])
    by_household = ver.groupby("household_id", sort=False)
    ver = ver.assign(
        unit=ver["village_code"].str[:9],
        in_area=ver["village_code"].str.startswith(county),
        prev_status=by_household["status"].shift(),
        prev_housing=by_household["housing_status"].shift(),
        valid_to=by_household["valid_from"].shift(-1),
    )
    a = last_per(ver, ["household_id"])
    a = a[a["in_area"]].merge(
        data["households"], left_on="household_id", right_on="id", suffixes=("", "_h")
    )
    out = {"status": _status(a)}
    events = ver[
        (ver["status"] != ver["prev_status"])
        & ver["prev_status"].notna()
        & ver["status"].isin(["exited", "returned"])
        & (ver["valid_from"] >= year_start)
        & ver["in_area"]
    ].rename(columns={"status": "became"})
    out["exits"] = _exits(events, month_start)
    out["progress"] = _progress(ver, events, period)
    out["income"], out["income_histogram"] = _income(a, policy)
    out["income_year"] = int(a["income_year"].mode().min())
    out["median_income"] = float(a["income"].median())
    out["housing"] = _housing(ver, a, month_start, year_start)
    help_ = data["help"]
    records = help_[
        (help_["date"] >= year_start)
        & (help_["date"] <= as_of)
        & help_["household_id"].isin(a["household_id"])
    ]
    out["measures"] = _measures(records, month_start)
    out["cadres"] = _cadres(a, help_, as_of, month_start, year_start, policy)
    out["without_cadre"] = int(a["cadre_id"].isna().sum())
    return out


def _status(a: pd.DataFrame) -> pd.DataFrame:
    frame = a.assign(
        **{f"{s}_households": a["status"] == s for s in ("poor", "exited", "returned")},
        **{
            f"{s}_people": a["members"].where(a["status"] == s, 0)
            for s in ("poor", "exited", "returned")
        },
        scattered_households=a["scattered"],
    )
    grouped = frame.groupby("unit")
    result = pd.DataFrame({"households": grouped.size(), "people": grouped["members"].sum()})
    for status in ("poor", "exited", "returned"):
        result[f"{status}_households"] = grouped[f"{status}_households"].sum()
        result[f"{status}_people"] = grouped[f"{status}_people"].sum()
    result["scattered_households"] = grouped["scattered_households"].sum()
    return result.reset_index()


def _exits(events: pd.DataFrame, month_start) -> pd.DataFrame:
    last = last_per(events, ["household_id", "became"])
    exited, returned = last["became"] == "exited", last["became"] == "returned"
    month = last["valid_from"] >= month_start
    frame = last.assign(
        exits_month_households=exited & month,
        exits_month_people=last["members"].where(exited & month, 0),
        exits_year_households=exited,
        exits_year_people=last["members"].where(exited, 0),
        returns_month_households=returned & month,
        returns_year_households=returned,
    )
    columns = [
        "exits_month_households",
        "exits_month_people",
        "exits_year_households",
        "exits_year_people",
        "returns_month_households",
        "returns_year_households",
    ]
    return frame.groupby("unit")[columns].sum().reset_index()


def _progress(ver: pd.DataFrame, events: pd.DataFrame, period: Period) -> pd.DataFrame:
    rows = []
    here = ver[ver["in_area"]]
    exits = events[events["became"] == "exited"]
    for start in pd.date_range(period.year_start, period.as_of, freq="MS"):
        end = min(start + pd.offsets.MonthEnd(0), pd.Timestamp(period.as_of))
        live = here[
            (here["valid_from"] <= end) & (here["valid_to"].isna() | (here["valid_to"] > end))
        ]
        counts = live["status"].value_counts()
        in_month = last_per(
            exits[(exits["valid_from"] >= start) & (exits["valid_from"] <= end)], ["household_id"]
        )
        so_far = last_per(exits[exits["valid_from"] <= end], ["household_id"])
        rows.append(
            {
                "month": start.strftime("%Y-%m"),
                "poor_households": int(counts.get("poor", 0)),
                "exited_households": int(counts.get("exited", 0)),
                "returned_households": int(counts.get("returned", 0)),
                "exits_households": len(in_month),
                "exits_people": int(in_month["members"].sum()),
                "exits_households_cumulative": len(so_far),
                "exits_people_cumulative": int(so_far["members"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _income(a: pd.DataFrame, policy) -> tuple[pd.DataFrame, pd.DataFrame]:
    years = a["income_year"]
    lines = {
        int(y): (exit_line(policy, int(y), labour=False), exit_line(policy, int(y), labour=True))
        for y in years.dropna().unique()
    }
    other = years.map(lambda y: lines[int(y)][0] if y == y else np.nan)
    labour = years.map(lambda y: lines[int(y)][1] if y == y else np.nan)
    exit_at = labour.where(a["labour_members"] > 0, other)
    band = np.select(
        [a["income"].isna(), a["income"] < other, a["income"] < exit_at],
        ["unknown", "below_profile", "below_exit"],
        "above_exit",
    )
    table = pd.crosstab(band, a["status"]).reindex(
        columns=["poor", "exited", "returned"], fill_value=0
    )
    table["households"] = table.sum(axis=1)
    income = table.rename_axis(index="band", columns=None).reset_index()
    known = a[a["income"].notna()]
    bucket = np.minimum(np.floor(known["income"] / 500), 30).astype(int) * 500
    histogram = pd.crosstab(bucket, known["status"]).reindex(
        columns=["poor", "exited", "returned"], fill_value=0
    )
    return income, histogram.rename_axis(index="bucket", columns=None).reset_index()


def _housing(ver, a, month_start, year_start) -> pd.DataFrame:
    ever = ver.loc[ver["housing_status"].isin(DANGEROUS), "household_id"].unique()
    changed = ver[ver["housing_status"].isin(REBUILT) & ver["prev_housing"].isin(DANGEROUS)]
    rebuilt_day = changed.groupby("household_id")["valid_from"].max().rename("day")
    h = a[a["household_id"].isin(ever)].merge(
        rebuilt_day, left_on="household_id", right_index=True, how="left"
    )
    still = h["housing_status"].isin(DANGEROUS)
    done = h["housing_status"].isin(REBUILT)
    frame = h.assign(
        dangerous_ever=1,
        still_dangerous=still,
        still_c=h["housing_status"] == "dangerous_c",
        still_d=h["housing_status"] == "dangerous_d",
        rebuilt=done,
        exited_in_danger=still & (h["status"] == "exited"),
        rebuilt_month=done & (h["day"] >= month_start),
        rebuilt_year=done & (h["day"] >= year_start),
    )
    columns = [
        "dangerous_ever",
        "still_dangerous",
        "still_c",
        "still_d",
        "rebuilt",
        "exited_in_danger",
        "rebuilt_month",
        "rebuilt_year",
    ]
    return frame.groupby("unit")[columns].sum().reset_index()


def _measures(records: pd.DataFrame, month_start) -> pd.DataFrame:
    month = records[records["date"] >= month_start]
    signed = records["signed_household"] & records["signed_village"] & records["signed_cadre"]
    grouped = records.assign(signed=signed).groupby("measure")
    frame = pd.DataFrame(
        {
            "records_month": month.groupby("measure").size(),
            "households_month": month.groupby("measure")["household_id"].nunique(),
            "records_year": grouped.size(),
            "households_year": grouped["household_id"].nunique(),
            "amount_year": grouped["amount"].sum(),
            "fully_signed_year": grouped["signed"].sum(),
        }
    )
    return frame.reindex(list(MEASURES)).fillna(0).rename_axis("measure").reset_index()


def _cadres(a, help_, as_of, month_start, year_start, policy) -> pd.DataFrame:
    assigned = a[a["cadre_id"].notna()]
    records = help_[
        (help_["date"] <= as_of)
        & help_["cadre_id"].notna()
        & help_["household_id"].isin(a["household_id"])
    ]
    by = records.groupby("cadre_id")
    stats = pd.DataFrame(
        {
            "records_month": records[records["date"] >= month_start].groupby("cadre_id").size(),
            "records_year": records[records["date"] >= year_start].groupby("cadre_id").size(),
            "last_record": by["date"].max(),
        }
    )
    own = records.merge(assigned[["household_id", "cadre_id"]], on=["household_id", "cadre_id"])
    last_seen = own.groupby("household_id")["date"].max()
    seen = assigned["household_id"].map(last_seen)
    limit = as_of - pd.Timedelta(days=policy.no_help_days)
    frame = assigned.assign(
        unvisited=seen.isna() | (seen < limit), poor=assigned["status"] != "exited"
    )
    result = frame.groupby("cadre_id").agg(
        households=("household_id", "size"),
        poor_households=("poor", "sum"),
        households_unvisited=("unvisited", "sum"),
    )
    result = result.join(stats, how="left")
    result[["records_month", "records_year"]] = result[["records_month", "records_year"]].fillna(0)
    return result.reset_index()


# --- comparison ---------------------------------------------------------------------------


def compare(ours_: dict, peer: dict) -> None:
    """Every figure equal (sorted by its key); raises AssertionError naming the figure."""
    keys = {
        "status": "unit",
        "exits": "unit",
        "progress": "month",
        "income": "band",
        "income_histogram": "bucket",
        "housing": "unit",
        "measures": "measure",
        "cadres": "cadre_id",
    }
    for name, key in keys.items():
        mine, theirs = ours_[name], peer[name]
        columns = [c for c in theirs.columns if c in mine.columns]
        left = _normal(mine[columns], key)
        right = _normal(theirs[columns], key)
        if name == "income":
            right = right.set_index(key).reindex(left[key]).fillna(0).reset_index()
        pd.testing.assert_frame_equal(
            left, right, check_dtype=False, check_exact=False, rtol=1e-9, obj=name
        )
    for name in ("income_year", "median_income", "without_cadre"):
        assert float(ours_[name]) == float(peer[name]), (name, ours_[name], peer[name])


def _normal(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if column == key:
            continue
        if column == "last_record":
            frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if key in ("cadre_id", "bucket"):
        frame[key] = frame[key].astype(int)
    return frame.sort_values(key).reset_index(drop=True)


# --- main ---------------------------------------------------------------------------------


def biggest_county(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT left(village_code, 6) FROM household "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=PROVINCE_HOUSEHOLDS)
    parser.add_argument("--month", default="2018-06", help="reporting month (YYYY-MM)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--keep", action="store_true", help="keep the cluster (prints its URL)")
    args = parser.parse_args()
    period = Period.of(args.month)
    gpkg = province_file(args.households)
    home = Path(tempfile.mkdtemp(prefix="gongjian-bench-report-"))
    cluster = EmbeddedCluster(home)
    try:
        url = cluster.up()
        upgrade(url)
        engine = sa.create_engine(url)
        print("loading the province into a throw-away cluster …", flush=True)
        households = load(engine, gpkg)
        county = biggest_county(engine)
        with engine.connect() as conn:
            in_county = conn.execute(
                sa.text("SELECT count(*) FROM household WHERE starts_with(village_code, :c)"),
                {"c": county},
            ).scalar()
            versions = conn.execute(sa.text("SELECT count(*) FROM household_history")).scalar()
        print(
            f"county {county}: {in_county:,} households; {versions:,} history versions", flush=True
        )
        policy = monitoring_policy(load_profile())
        our_times, peer_times, compute_times = [], [], []
        for run in range(args.repeat):
            seconds, mine = ours(engine, county, period)
            our_times.append(seconds)
            started = time.perf_counter()
            data = export(engine)
            exported = time.perf_counter()
            theirs = pandas_figures(data, county, period, policy)
            done = time.perf_counter()
            peer_times.append(done - started)
            compute_times.append(done - exported)
            if run == 0:
                compare(mine, theirs)
                print("figures equal: ours and pandas agree on every figure", flush=True)
            print(
                f"run {run + 1}: ours {seconds:.2f} s; pandas {done - started:.2f} s "
                f"(export {exported - started:.2f} s + compute {done - exported:.2f} s)",
                flush=True,
            )
            del data
        best_ours, best_peer, best_compute = min(our_times), min(peer_times), min(compute_times)
        print(
            f"ours {best_ours:.2f} s, pandas {best_peer:.2f} s "
            f"(compute only {best_compute:.2f} s): ratio {best_peer / best_ours:.1f} "
            f"(compute only {best_compute / best_ours:.1f})"
        )
        engine.dispose()
        print(
            json.dumps(
                {
                    "bench": "report_scale",
                    "households": households,
                    "history_versions": versions,
                    "county": county,
                    "county_households": in_county,
                    "month": period.month,
                    "ours_s": round(best_ours, 3),
                    "pandas_s": round(best_peer, 3),
                    "pandas_compute_s": round(best_compute, 3),
                    "ratio": round(best_peer / best_ours, 2),
                    "ratio_compute_only": round(best_compute / best_ours, 2),
                }
            )
        )
    finally:
        if args.keep:
            print(f"kept: {cluster.url()} (data in {home})", file=sys.stderr)
        else:
            cluster.destroy()


if __name__ == "__main__":
    main()
