"""The wall map's pure parts: paper, projection and scale, labels, displacement, tables, fonts."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from maps.wallmap.dodge import dodge
from maps.wallmap.furniture import grid_north_angle, scale_bar_spec
from maps.wallmap.labels import Box, LabelBoxes, around, place, text_size_mm
from maps.wallmap.mapframe import format_dms, grid_interval
from maps.wallmap.paper import ISO_A, Paper
from maps.wallmap.projection import LocalFrame, central_meridian, local_crs, nice_length, nice_scale
from maps.wallmap.tables import Column, Table, fit_size, wrap
from maps.wallmap.view import MapView

GEOD = Geod(ellps="GRS80")


@pytest.mark.parametrize("name", list(ISO_A))
def test_paper_sizes_are_iso_in_both_orientations(name):
    short, long = ISO_A[name]
    assert Paper.named(name, "portrait").size_mm == (short, long)
    assert Paper.named(name, "landscape").size_mm == (long, short)
    with pytest.raises(ValueError):
        Paper.named("B5")


def test_type_grows_with_the_paper_and_a0_village_names_read_from_two_metres():
    sizes = [Paper.named(n).pt("village") for n in ("A4", "A3", "A2", "A1", "A0")]
    assert sizes == sorted(sizes)
    # ~1/240 of the viewing distance is the usual legibility bound: 8.3 mm at 2 m
    em_mm = Paper.named("A0").pt("village") * 25.4 / 72
    assert em_mm >= 8.0


def test_local_crs_is_the_nearest_cgcs2000_gauss_kruger_zone():
    assert central_meridian(112.4) == 111
    assert central_meridian(112.6) == 114
    assert local_crs(112.4, 25.0).to_epsg() == 4546
    assert "CM 111E" in local_crs(112.4, 25.0).name


def test_nice_scales_and_lengths():
    assert nice_scale(9_000) == 10_000
    assert nice_scale(48_000) == 50_000
    assert nice_scale(50_000) == 50_000
    assert nice_length(3_700) == 2_000
    assert nice_length(900) == 500


def _view(scale_hint=50_000, lon=112.75, lat=24.8):
    frame = LocalFrame.at(lon, lat)
    x, y = frame.to_map().transform(lon, lat)
    area = shapely.Point(x, y).buffer(scale_hint * 0.1)
    return MapView.fit(area, (20.0, 20.0, 200.0, 200.0), frame)


def test_map_scale_is_round_and_true_on_the_ground_at_the_centre():
    view = _view()
    assert view.scale in (50_000, 60_000)
    # 100 mm across the centre of the map, measured on the ellipsoid
    cx, cy = view.rect_mm[0] + 100, view.rect_mm[1] + 100
    (x0, x1), (y0, y1) = view.to_map(np.array([cx - 50, cx + 50]), np.array([cy, cy]))
    lon, lat = view.frame.to_lonlat().transform([x0, x1], [y0, y1])
    _, _, ground = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    assert ground == pytest.approx(100 / 1000 * view.scale, rel=2e-4)


def test_scale_bar_length_is_the_ground_distance_it_claims():
    view = _view()
    bar = scale_bar_spec(view, Paper.named("A3"))
    cx, cy = view.rect_mm[0] + 100, view.rect_mm[1] + 100
    (x0, x1), (y0, y1) = view.to_map(np.array([cx, cx + bar.bar_mm]), np.array([cy, cy]))
    lon, lat = view.frame.to_lonlat().transform([x0, x1], [y0, y1])
    _, _, ground = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    assert ground == pytest.approx(bar.length_m, rel=2e-4)
    assert bar.length_m in (1000, 2000, 5000, 10000)


def test_north_arrow_turns_with_the_meridian_convergence():
    east = _view(lon=112.4)  # 1.4° east of the 111°E meridian: true north leans west (left)
    assert grid_north_angle(east) == pytest.approx(1.4 * np.sin(np.radians(24.8)), abs=0.02)
    assert grid_north_angle(east) == pytest.approx(east.frame.convergence_deg, abs=0.01)
    assert abs(grid_north_angle(_view(lon=111.0))) < 0.01


def test_graticule_labels_in_degrees_and_minutes():
    assert format_dms(112.5, "lon") == "112°30′E"
    assert format_dms(25.0, "lat") == "25°00′N"
    assert format_dms(112.5 + 30 / 3600, "lon") == "112°30′30″E"
    assert grid_interval(0.3, 5) == pytest.approx(5 / 60)


def test_greedy_labels_never_overlap():
    boxes = LabelBoxes()
    width, height = text_size_mm([("西洞村", 10.0)])
    placed = []
    for _ in range(6):  # six labels competing for one point
        cand = place(boxes, around(50, 50, 1.0, width, height), width, height, name="x")
        if cand is not None:
            placed.append(
                Box(
                    cand.x - width / 2, cand.y - height / 2, cand.x + width / 2, cand.y + height / 2
                )
            )
    assert len(placed) >= 2  # right and left of the point; the rest would overlap
    assert not any(a.overlaps(b) for i, a in enumerate(placed) for b in placed[i + 1 :])


def test_required_labels_are_placed_even_when_crowded():
    boxes = LabelBoxes([Box(0, 0, 100, 100)])
    assert place(boxes, around(50, 50, 1, 5, 2), 5, 2) is None
    assert place(boxes, around(50, 50, 1, 5, 2), 5, 2, required=True) is not None


def test_displaced_symbols_do_not_overlap_and_sparse_ones_stay_put():
    rng = np.random.default_rng(1)
    hamlet = rng.normal(0, 0.5, size=(60, 2))  # 60 households within a millimetre or so
    lonely = np.array([[30.0, 30.0]])
    points = np.vstack([hamlet, lonely])
    placed = dodge(points, diameter=1.0)
    dist = np.linalg.norm(placed[:, None, :] - placed[None, :, :], axis=-1)
    assert dist[np.triu_indices(len(points), 1)].min() >= 0.999
    assert np.allclose(placed[-1], lonely[0])
    assert np.linalg.norm(placed - points, axis=1).max() < 6  # a compact cluster


def test_displacement_respects_the_allowed_area():
    points = np.zeros((40, 2))
    placed = dodge(points, 1.0, inside=lambda x, y: x >= 0)
    assert (placed[:, 0] >= 0).all()


def test_wrap_breaks_cjk_lines_to_width():
    lines = wrap("西洞村：朱梅雪、曾东成、谢辉志、张进贤、唐才树", 8)
    assert all(len(line) <= 8 for line in lines)
    assert "".join(lines) == "西洞村：朱梅雪、曾东成、谢辉志、张进贤、唐才树"


def test_tables_fit_by_shrinking_then_flowing():
    table = Table(
        [Column("村", 6), Column("户数", 4, "right")], [[f"村{i}", str(i)] for i in range(40)]
    )
    assert fit_size(table, 40, 300, 10, 4) == 10  # one column, full size
    small = fit_size(table, 40, 120, 10, 4)  # one column only: it must shrink
    assert small is not None and small < 10
    assert fit_size(table, 200, 120, 10, 4) == 10  # room to flow into columns instead
    assert fit_size(table, 20, 10, 10, 4) is None


def test_cjk_font_is_a_truetype_copy_of_noto_sans_cjk():
    from fontTools.ttLib import TTFont

    from maps.fonts import prepare_fonts

    fonts = {f.weight: f.path for f in prepare_fonts()}
    font = TTFont(fonts["regular"])
    assert "glyf" in font and "CFF " not in font  # PDF Type 42 needs TrueType outlines
    assert font["name"].getDebugName(6) == "NotoSansCJKsc-Regular"
    assert ord("镇") in font.getBestCmap() and ord("攻") in font.getBestCmap()
