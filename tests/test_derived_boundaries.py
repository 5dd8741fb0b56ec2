"""geo.derived_boundaries on plain GeoDataFrames: villages from points tile and contain."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.demo.grid import Grid
from geo.derived_boundaries import (
    Elevation,
    derive_boundaries,
    points_outside_own_polygon,
    tiling_defects,
)

FRAME = shapely.Polygon([(112.0, 24.0), (112.2, 24.0), (112.25, 24.15), (112.05, 24.2)])
TOWNSHIPS = ("441800100", "441800101")


def _points(seed: int = 1, villages: int = 6, per_village: int = 30) -> gpd.GeoDataFrame:
    """Households clustered round village centres, some clusters interleaving."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(villages):
        centre = np.array([112.04 + 0.03 * v, 24.05 + 0.02 * (v % 3)])
        code = f"{TOWNSHIPS[v % 2]}{201 + v:03d}"
        for xy in centre + rng.normal(0, 0.008, size=(per_village, 2)):
            rows.append((code, shapely.Point(xy)))
    codes, geoms = zip(*rows, strict=True)
    points = gpd.GeoDataFrame({"village_code": codes}, geometry=list(geoms), crs=4326)
    return points[points.within(FRAME)].reset_index(drop=True)


def _elevation() -> Elevation:
    grid = Grid.covering(FRAME.bounds, 0.002, pad=0.004, multiple=1)
    rows, cols = np.indices(grid.shape)
    z = 200 + 300 * np.sin(cols / 9.0) * np.cos(rows / 13.0)  # ridges and valleys
    return Elevation(z, grid)


@pytest.mark.parametrize("elevation", [None, _elevation()], ids=["voronoi", "terrain"])
def test_villages_tile_their_townships_and_contain_their_households(elevation):
    points = _points()
    derived = derive_boundaries(points, FRAME, elevation)

    assert set(derived.villages["code"]) == set(points["village_code"])
    assert set(derived.townships["code"]) == set(TOWNSHIPS)
    assert derived.villages.is_valid.all() and derived.townships.is_valid.all()
    assert len(points_outside_own_polygon(points, derived.villages)) == 0
    gap, overlap = tiling_defects(derived.townships.geometry, FRAME)
    assert gap < 1.0 and overlap < 1.0
    for code, group in derived.villages.groupby("township_code"):
        township = derived.townships.set_index("code").geometry[code]
        gap, overlap = tiling_defects(group.geometry, township)
        assert gap < 1.0 and overlap < 1.0
    assert derived.villages["points"].sum() == len(points)


def test_derivation_is_deterministic():
    points = _points()
    a = derive_boundaries(points, FRAME, _elevation())
    b = derive_boundaries(points.sample(frac=1, random_state=3), FRAME, _elevation())
    for x, y in zip(a.villages.geometry, b.villages.geometry, strict=True):
        assert x.equals_exact(y, 0)


def test_households_of_two_villages_at_one_place_are_reported():
    points = _points()
    shared = points.geometry.iloc[0]
    other = next(c for c in points["village_code"] if c != points["village_code"].iloc[0])
    clash = gpd.GeoDataFrame({"village_code": [other]}, geometry=[shared], crs=4326)
    derived = derive_boundaries(gpd.pd.concat([points, clash], ignore_index=True), FRAME)
    assert [sorted(c) for _, _, c in derived.conflicts] == [
        sorted([points["village_code"].iloc[0], other])
    ]


def test_points_outside_the_frame_are_reported():
    points = _points()
    stray = gpd.GeoDataFrame(
        {"village_code": [points["village_code"].iloc[0]]},
        geometry=[shapely.Point(113.0, 25.0)],
        crs=4326,
    )
    derived = derive_boundaries(gpd.pd.concat([points, stray], ignore_index=True), FRAME)
    assert derived.outside_frame == [len(points)]


def test_tiling_defects_finds_gaps_and_overlaps():
    left = shapely.box(112.0, 24.0, 112.1, 24.2)
    right = shapely.box(112.1005, 24.0, 112.25, 24.2)  # a ~50 m strip left uncovered
    gap, overlap = tiling_defects(gpd.GeoSeries([left, right]), shapely.box(112, 24, 112.25, 24.2))
    assert gap > 1e5 and overlap == 0
    gap, overlap = tiling_defects(
        gpd.GeoSeries([left, shapely.box(112.09, 24.0, 112.25, 24.2)]),
        shapely.box(112, 24, 112.25, 24.2),
    )
    assert gap == 0 and overlap > 1e5
