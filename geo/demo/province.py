"""A province-sized synthetic household set over the real Guangdong counties, for benchmarks.

Seed 002 §2 counts 708,000 relatively poor households and 2,277 relatively poor villages in
Guangdong. ``generate_province`` spreads that many synthetic households over the counties:

* County weight = city weight × district factor × (area in km²)^0.8. The six Pearl River
  Delta cities that *help* others (seed 002 §22: 广州 深圳 珠海 佛山 东莞 中山) weigh 0.02,
  the three that organise their own help (汕头 惠州 江门) 0.35, the twelve helped cities of
  the east, west and north 1.0; urban districts (level "district", else names ending in
  区) count half.
* Villages are real ones: about one per 30 poor households (all of them in the poorest
  counties) of the villages and communities (村委会/居委会) of each county in the bundled
  统计用区划代码 2023 (geo.divisions, 26,842 in Guangdong), rural villages preferred, with
  official codes and names (大塘村, 燕喜社区). 2,277 of the rural villages (村委会, never
  communities) are poor villages (key_level provincial), chosen by county weight, and hold
  one third of the households (seed 003: more than two thirds live outside poor villages);
  communities are towns and get a tenth of a village's share.
* There are no village polygons: a township is a random point inside its county, its
  villages points scattered around it inside the county; households cluster in 1–4 hamlets
  within ~1 km of the village point, a few tens of metres apart, always inside their county.
* Household attributes come from the same generators as the Lianzhou demo
  (``geo.demo.people``): category, members, causes, housing, seed-002 exit schedule,
  incomes 2015–2018 (as columns income_2015..income_2018), names (Yao surnames in the Yao
  autonomous counties), valid ID numbers of the household's county, phones. There is no
  member table; labour_members is drawn directly.

Everything is vectorised: 708,000 households take a few seconds plus the GeoPackage write.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo import divisions
from geo.demo.people import (
    HOUSEHOLD_COLUMNS,
    INCOME_YEARS,
    KEY_VILLAGE_SHARE,
    REGISTERED_YEAR,
    apportion,
    draw_incomes,
    draw_profile,
    draw_status,
    head_ages,
    head_is_male,
    household_numbers,
    id_numbers,
    metres_to_degrees,
    phones,
    random_streams,
    synthetic_names,
)
from geo.paths import GUANGDONG_COUNTIES

PROVINCE_HOUSEHOLDS = 708_000  # seed 002 §2: 70.8万户
PROVINCE_POOR_VILLAGES = 2_277  # seed 002 §2: 2277条村
HOUSEHOLDS_PER_VILLAGE = 30
COMMUNITY_WEIGHT = 0.1  # urban communities (居委会) hold few poor households
# seed 002 §22: helping cities, cities that help themselves, and the helped cities
DONOR_CITIES = ("广州", "深圳", "珠海", "佛山", "东莞", "中山")
SELF_HELP_CITIES = ("汕头", "惠州", "江门")
HELPED_CITIES = (
    "梅州",
    "清远",
    "河源",
    "汕尾",
    "阳江",
    "茂名",
    "湛江",
    "云浮",
    "韶关",
    "揭阳",
    "肇庆",
    "潮州",
)
CITY_WEIGHT = {
    **dict.fromkeys(DONOR_CITIES, 0.02),
    **dict.fromkeys(SELF_HELP_CITIES, 0.35),
    **dict.fromkeys(HELPED_CITIES, 1.0),
}
URBAN_DISTRICT_FACTOR = 0.5
STREAMS = ("allocate", "villages", "place", "profile", "status", "income", "people")


def county_weights(counties: pd.DataFrame) -> np.ndarray:
    """Relative share of poor households per county (see the module doc)."""
    city = counties["city"].fillna("").str[:2]
    weight = city.map(CITY_WEIGHT).fillna(1.0).to_numpy()
    if "level" in counties:  # data/boundaries has district/county/city
        urban = (counties["level"] == "district").to_numpy()
    else:
        urban = counties["name"].fillna("").str.endswith("区").to_numpy()
    geoms = counties.geometry.to_numpy()
    centroid_lat = shapely.get_y(shapely.centroid(geoms))
    km2 = shapely.area(geoms) * 111.32 * 110.57 * np.cos(np.radians(centroid_lat))
    return weight * np.where(urban, URBAN_DISTRICT_FACTOR, 1.0) * np.power(km2, 0.8)


def generate_province(
    counties: gpd.GeoDataFrame,
    seed: int,
    n_households: int = PROVINCE_HOUSEHOLDS,
    n_poor_villages: int = PROVINCE_POOR_VILLAGES,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(villages, households) over ``counties`` (EPSG:4326 with code, name, city).

    villages: code, county_code, name, is_poor_village, key_level, geom (Point).
    households: the demo's household columns plus county_code and income_2015..2018.
    For a smaller set scale ``n_poor_villages`` with ``n_households`` (2,277 per 708,000),
    or the poor villages will hold more than their third of the households.
    """
    rng = random_streams(seed, STREAMS)
    if counties.crs is not None and counties.crs.to_epsg() != 4326:
        counties = counties.to_crs("EPSG:4326")
    counties = counties.sort_values("code").reset_index(drop=True)
    weights = county_weights(counties)
    per_county = apportion(rng["allocate"], n_households, weights, np.full(len(weights), 1e12))
    villages = _villages(rng["villages"], counties, per_county, weights, n_poor_villages)
    village_of = _households_to_villages(rng["allocate"], villages, per_county)
    households = _households(rng, counties, villages, village_of)
    return villages.drop(columns=["county_index", "community"]), households


def _villages(rng, counties, per_county, weights, n_poor) -> gpd.GeoDataFrame:
    """The official villages of every county with households, as points inside the county."""
    units = []
    for c, code in enumerate(counties["code"].astype(str)):
        if per_county[c] > 0:
            units += _chosen_units(rng, c, code, per_county[c])
    county_index = np.array([c for c, _, _ in units], dtype=np.int64)
    township = np.array([t.code for _, t, _ in units])
    x, y = _village_points(rng, counties, county_index, township)
    rural = np.array([v.committee == "村委会" for _, _, v in units])
    p = np.where(rural, weights[county_index], 0.0)
    n_poor = min(n_poor, int(rural.sum()))
    poor = np.zeros(len(units), dtype=bool)
    poor[rng.choice(len(units), size=n_poor, replace=False, p=p / p.sum())] = True
    frame = pd.DataFrame(
        {
            "code": [v.code for _, _, v in units],
            "county_code": counties["code"].astype(str).to_numpy()[county_index],
            "name": [v.short_name for _, _, v in units],
            "is_poor_village": poor,
            "key_level": np.where(poor, "provincial", None),
            "county_index": county_index,
            "community": ~rural,
        }
    )
    frame["geom"] = shapely.points(x, y)
    return gpd.GeoDataFrame(frame, geometry="geom", crs="EPSG:4326")


def _chosen_units(rng, c: int, county_code: str, households: int) -> list[tuple]:
    """About one official village per HOUSEHOLDS_PER_VILLAGE households (all of them in the
    poorest counties), rural villages preferred to communities; (county, township, village)
    in code order."""
    units = [(c, t, v) for t in divisions.children(county_code) for v in divisions.children(t.code)]
    if not units:
        raise ValueError(f"county {county_code} has no villages in the bundled division codes")
    n = min(len(units), max(1, round(households / HOUSEHOLDS_PER_VILLAGE)))
    weight = np.array([1.0 if v.committee == "村委会" else COMMUNITY_WEIGHT for _, _, v in units])
    keep = rng.choice(len(units), size=n, replace=False, p=weight / weight.sum())
    return [units[i] for i in sorted(keep)]


def _village_points(rng, counties, county_index, township) -> tuple[np.ndarray, np.ndarray]:
    """A random point per township inside its county, its villages scattered around it
    (within about a township's radius), inside the county."""
    x, y = np.empty(len(county_index)), np.empty(len(county_index))
    geoms = counties.geometry.to_numpy()
    for c in np.unique(county_index):
        mine = np.flatnonzero(county_index == c)
        codes, of = np.unique(township[mine], return_inverse=True)
        tx, ty = random_points_in(rng, geoms[c], len(codes))
        lat = float(np.mean(ty))
        km2 = shapely.area(geoms[c]) * 111.32 * 110.57 * np.cos(np.radians(lat))
        radius_m = 400 * np.sqrt(km2 / len(codes))  # ~0.4 of a township's width
        x[mine], y[mine] = tx[of], ty[of]
        todo = np.arange(len(mine))
        for attempt in range(8):  # redraw outside the county, closer to the township point
            dlon, dlat = metres_to_degrees(
                rng.normal(0, radius_m * 0.6**attempt, len(todo)),
                rng.normal(0, radius_m * 0.6**attempt, len(todo)),
                ty[of[todo]],
            )
            x[mine[todo]], y[mine[todo]] = tx[of[todo]] + dlon, ty[of[todo]] + dlat
            todo = todo[~shapely.contains_xy(geoms[c], x[mine[todo]], y[mine[todo]])]
            if len(todo) == 0:
                break
        x[mine[todo]], y[mine[todo]] = tx[of[todo]], ty[of[todo]]  # the township point
    return x, y


def random_points_in(rng: np.random.Generator, geom, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n uniform random points inside a (multi)polygon, by vectorised rejection sampling."""
    xmin, ymin, xmax, ymax = geom.bounds
    fill = max(geom.area / max((xmax - xmin) * (ymax - ymin), 1e-12), 0.01)
    shapely.prepare(geom)
    xs, ys, found = [np.empty(0)], [np.empty(0)], 0
    while found < n:
        batch = int((n - found) / fill * 1.3) + 16
        x, y = rng.uniform(xmin, xmax, batch), rng.uniform(ymin, ymax, batch)
        inside = shapely.contains_xy(geom, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        found += int(inside.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _households_to_villages(rng, villages: pd.DataFrame, per_county: np.ndarray) -> np.ndarray:
    """Village index of every household, sorted; poor villages hold KEY_VILLAGE_SHARE of them
    exactly, the rest follows the county shares."""
    poor = villages["is_poor_village"].to_numpy()
    size = rng.lognormal(0, 0.5, len(villages))
    size = np.where(villages["community"].to_numpy(), COMMUNITY_WEIGHT * size, size)
    county = villages["county_index"].to_numpy()
    total = int(per_county.sum())
    counts = np.zeros(len(villages), dtype=np.int64)
    n_key = round(total * KEY_VILLAGE_SHARE) if poor.any() and (~poor).any() else 0
    if n_key:
        counts[poor] = rng.multinomial(n_key, size[poor] / size[poor].sum())
    in_poor = np.bincount(county, np.where(poor, counts, 0), minlength=len(per_county))
    has_other = np.bincount(county, ~poor, minlength=len(per_county)) > 0
    rest_weight = np.where(has_other, np.maximum(per_county - in_poor, 0), 0).astype(float)
    rest = apportion(rng, total - n_key, rest_weight, np.full(len(per_county), 1e12))
    for c in np.flatnonzero(rest):
        mine = np.flatnonzero((county == c) & ~poor)
        counts[mine] = rng.multinomial(rest[c], size[mine] / size[mine].sum())
    return np.repeat(np.arange(len(villages)), counts)


def _households(rng, counties, villages, village_of) -> gpd.GeoDataFrame:
    """Household rows with attributes from the demo generators."""
    n = len(village_of)
    county_of = villages["county_index"].to_numpy()[village_of]
    poor_village = villages["is_poor_village"].to_numpy()[village_of]
    x, y = _cluster_points(rng["place"], villages, village_of, counties.geometry.to_numpy())
    profile = draw_profile(rng["profile"], remote=poor_village, lacking=np.zeros(n, bool))
    profile["labour_members"] = _labour_members(rng["profile"], profile)
    draw_status(rng["status"], profile)
    incomes = draw_incomes(rng["income"], profile)
    people = rng["people"]
    male = head_is_male(people, profile["category"].to_numpy())
    birth_year = REGISTERED_YEAR - head_ages(people, profile)
    yao = counties["name"].fillna("").str.contains("瑶").to_numpy()[county_of]
    region = counties["code"].astype(int).to_numpy()[county_of]
    village_code = villages["code"].to_numpy()[village_of]
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "household_no": household_numbers(village_code),
            "village_code": village_code,
            "hamlet_id": pd.array([pd.NA] * n, dtype="Int64"),
            "head_name": synthetic_names(people, male, yao),
            "id_number": id_numbers(people, region, birth_year, male),
            "phone": phones(people, n),
            "cadre_id": pd.array([pd.NA] * n, dtype="Int64"),
            "scattered": ~poor_village,
            "registered_year": REGISTERED_YEAR,
            "version": 1,
            "synthetic": True,
        }
    )
    for column in (
        "members",
        "labour_members",
        "category",
        "main_cause",
        "secondary_cause",
        "housing_status",
        "status",
        "exit_year",
    ):
        frame[column] = profile[column].array
    frame = frame[HOUSEHOLD_COLUMNS]
    frame["county_code"] = counties["code"].to_numpy()[county_of]
    for j, year in enumerate(INCOME_YEARS):
        frame[f"income_{year}"] = incomes[:, j]
    frame["geom"] = shapely.points(x, y)
    return gpd.GeoDataFrame(frame, geometry="geom", crs="EPSG:4326")


def _labour_members(rng: np.random.Generator, profile: pd.DataFrame) -> np.ndarray:
    """Members able to work, without a member table: none for tekun, few for 缺劳力."""
    members = profile["members"].to_numpy()
    category = profile["category"].to_numpy()
    p = np.select([category == "general", category == "dibao"], [0.6, 0.3], 0.0)
    labour = rng.binomial(members, p)
    return np.where(profile["main_cause"].to_numpy() == "labour", np.minimum(labour, 1), labour)


def _cluster_points(rng, villages, village_of, county_geoms) -> tuple[np.ndarray, np.ndarray]:
    """Households in 1–4 hamlets around their village point, inside their county."""
    v = len(villages)
    hamlet_dx, hamlet_dy = rng.normal(0, 600, (v, 4)), rng.normal(0, 600, (v, 4))
    hamlets = rng.integers(1, 5, v)
    hamlet_of = np.floor(rng.random(len(village_of)) * hamlets[village_of]).astype(int)
    vx = shapely.get_x(villages.geometry.to_numpy())[village_of]
    vy = shapely.get_y(villages.geometry.to_numpy())[village_of]
    geoms = county_geoms[villages["county_index"].to_numpy()[village_of]]
    shapely.prepare(county_geoms)
    x, y = vx.copy(), vy.copy()
    todo = np.arange(len(village_of))
    for attempt in range(8):  # redraw outside the county (coasts, borders), closer in
        i = todo
        shrink = 0.6**attempt
        dx = (hamlet_dx[village_of[i], hamlet_of[i]] + rng.normal(0, 50, len(i))) * shrink
        dy = (hamlet_dy[village_of[i], hamlet_of[i]] + rng.normal(0, 35, len(i))) * shrink
        dlon, dlat = metres_to_degrees(dx, dy, vy[i])
        x[i], y[i] = vx[i] + dlon, vy[i] + dlat
        todo = i[~shapely.contains_xy(geoms[i], x[i], y[i])]
        if len(todo) == 0:
            break
    x[todo], y[todo] = vx[todo], vy[todo]  # the village point is inside by construction
    return x, y


def write_province_gpkg(
    path: str | Path,
    seed: int,
    counties_path: str | Path = GUANGDONG_COUNTIES,
    n_households: int = PROVINCE_HOUSEHOLDS,
) -> tuple[int, int]:
    """Generate over the counties file and write layers households and villages to a GPKG.

    Returns (households, villages) written. An existing file at ``path`` is replaced.
    """
    counties = gpd.read_file(counties_path)
    villages, households = generate_province(counties, seed, n_households=n_households)
    path = Path(path)
    path.unlink(missing_ok=True)
    # nullable Int64 columns (exit_year, cadre_id, hamlet_id) become integer fields with NULLs
    pyogrio.write_dataframe(households, path, layer="households", driver="GPKG")
    pyogrio.write_dataframe(villages, path, layer="villages", driver="GPKG")
    return len(households), len(villages)
