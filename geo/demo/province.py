"""A province-sized synthetic household set over the real Guangdong counties, for benchmarks.

Seed 002 §2 counts 708,000 relatively poor households and 2,277 relatively poor villages in
Guangdong. ``generate_province`` spreads that many synthetic households over the counties:

* County weight = city weight × district factor × (area in km²)^0.8. The six Pearl River
  Delta cities that *help* others (seed 002 §22: 广州 深圳 珠海 佛山 东莞 中山) weigh 0.02,
  the three that organise their own help (汕头 惠州 江门) 0.35, the twelve helped cities of
  the east, west and north 1.0; urban districts (level "district", else names ending in
  区) count half.
* About 30 poor households per administrative village; 2,277 of the villages are poor
  villages (key_level provincial), chosen by county weight, and hold one third of the
  households (seed 003: more than two thirds live outside poor villages).
* Villages are points inside their county; households cluster in 1–4 hamlets within ~1 km
  of the village point, a few tens of metres apart, always inside their county.
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
PLACE_FIRST = "石新大上下黄白龙长平水山坪田塘岗沙竹桥东西南北高马牛鹤凤金青松梅桃李"
PLACE_SECOND = "坑岭田塘坪岗洞江湖口头寨冲坳湾围屋村垌背尾"


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
    return villages.drop(columns=["county_index"]), households


def _villages(rng, counties, per_county, weights, n_poor) -> gpd.GeoDataFrame:
    """Village points inside each county, coded county + township (1xx) + village (2xx)."""
    count = np.where(
        per_county > 0, np.maximum(1, np.round(per_county / HOUSEHOLDS_PER_VILLAGE)), 0
    ).astype(np.int64)
    county_index = np.repeat(np.arange(len(counties)), count)
    rank = np.arange(len(county_index)) - np.repeat(np.cumsum(count) - count, count)
    codes = np.char.add(
        counties["code"].to_numpy().astype(str)[county_index],
        np.char.add((100 + rank // 20).astype(str), (201 + rank % 20).astype(str)),
    )
    x, y = np.empty(len(county_index)), np.empty(len(county_index))
    for c, geom in enumerate(counties.geometry):
        mine = county_index == c
        x[mine], y[mine] = random_points_in(rng, geom, int(mine.sum()))
    p = weights[county_index] / weights[county_index].sum()
    n_poor = min(n_poor, len(codes))
    poor = np.zeros(len(codes), dtype=bool)
    poor[rng.choice(len(codes), size=n_poor, replace=False, p=p)] = True
    names = np.char.add(
        np.char.add(_chars(rng, PLACE_FIRST, len(codes)), _chars(rng, PLACE_SECOND, len(codes))),
        "村",
    )
    frame = pd.DataFrame(
        {
            "code": codes.astype(object),
            "county_code": counties["code"].to_numpy()[county_index],
            "name": names.astype(object),
            "is_poor_village": poor,
            "key_level": np.where(poor, "provincial", None),
            "county_index": county_index,
        }
    )
    frame["geom"] = shapely.points(x, y)
    return gpd.GeoDataFrame(frame, geometry="geom", crs="EPSG:4326")


def _chars(rng, pool: str, n: int) -> np.ndarray:
    return np.array(list(pool))[rng.integers(0, len(pool), n)]


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
    """Village index of every household, sorted; poor villages hold ~1/3 of the households."""
    poor = villages["is_poor_village"].to_numpy()
    size = rng.lognormal(0, 0.5, len(villages))
    # non-poor weight such that poor villages hold KEY_VILLAGE_SHARE of all households
    other = (1 - KEY_VILLAGE_SHARE) / KEY_VILLAGE_SHARE * poor.sum() / max(size[~poor].sum(), 1)
    weight = np.where(poor, 1.0, other * size)
    county = villages["county_index"].to_numpy()
    counts = np.zeros(len(villages), dtype=np.int64)
    for c in np.flatnonzero(per_county):
        mine = np.flatnonzero(county == c)
        counts[mine] = rng.multinomial(per_county[c], weight[mine] / weight[mine].sum())
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
