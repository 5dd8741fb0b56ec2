# ruff: noqa: E501  (the embedded PyQGIS script keeps its long lines)
"""Wall map vs QGIS: the same township's layers, one GeoPackage, an A1 PDF each, side by side.

Ours: read the GeoPackage, draw the full 攻坚图 sheet (map with relief, households displaced
and labelled, legend with counts, insets, statistics, roster, 附表) and write the PDF.
QGIS (Debian ``python3-qgis``, headless, ``QT_QPA_PLATFORM=offscreen``, run by the system
``/usr/bin/python3`` in a subprocess): a print layout with a map of the same layers (hillshade
from the same DEM, categorised households and roads), a legend, a scale bar and a title,
exported to PDF. Each side is timed from "layers on disk" to "PDF written", after its own
start-up (interpreter, imports, ``QgsApplication.initQgis``); best of ``--repeat`` runs.
Both are also rendered to PNG (untimed) for a visual comparison.

    python bench/wallmap_vs_qgis.py [--township 441882101] [--repeat 3] [--out DIR]

Uses DATABASE_URL or the embedded cluster, and loads the demo if it is not loaded.
``ours_s`` is the sheet (page 1: map, legend, insets, statistics, roster); ``ours_with_annex_s``
adds the 附表 pages (the pairing table, ~2,000 names), which QGIS is not asked to draw.
Last line: {"bench": "wallmap_vs_qgis", "ours_s": …, "qgis_s": …, "ratio": qgis/ours, …}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layers.wallmap_data import SheetData, fetch_township_sheet

FRAMES = (
    "township",
    "villages",
    "hamlets",
    "households",
    "neighbours",
    "county_townships",
    "county",
    "province",
)
TABLES = ("roster", "cadres")
AS_OF = dt.date(2017, 6, 30)


def export_gpkg(sheet: SheetData, path: Path) -> None:
    """Every layer and table of the sheet into one GeoPackage (tables without geometry)."""
    for name in FRAMES:
        getattr(sheet, name).to_file(path, layer=name, driver="GPKG")
    for name, frame in sheet.layers.items():
        frame.to_file(path, layer=name, driver="GPKG")
    for name in TABLES:
        frame = getattr(sheet, name)
        gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=4326).to_file(
            path, layer=name, driver="GPKG"
        )
    meta = pd.DataFrame(
        [
            {
                "code": sheet.code,
                "name": sheet.name,
                "county_code": sheet.county_code,
                "county_name": sheet.county_name,
                "city": sheet.city,
                "as_of": sheet.as_of.isoformat(),
                "synthetic": sheet.synthetic,
                "work_group_name": sheet.work_group_name or "",
                "dem_path": sheet.dem_path or "",
            }
        ]
    )
    gpd.GeoDataFrame(meta, geometry=[None], crs=4326).to_file(path, layer="sheet", driver="GPKG")


def read_gpkg(path: Path) -> SheetData:
    """The sheet back from the GeoPackage (what our renderer reads in the timed run)."""
    meta = gpd.read_file(path, layer="sheet").iloc[0]

    def table(name):
        return pd.DataFrame(gpd.read_file(path, layer=name).drop(columns="geometry"))

    frames = {name: gpd.read_file(path, layer=name) for name in FRAMES}
    cadres = table("cadres")
    hh = frames["households"]
    hh["cadre_id"] = (
        hh["cadre_id"].astype("Int64").astype(object).where(hh["cadre_id"].notna(), None)
    )
    return SheetData(
        code=meta["code"],
        name=meta["name"],
        county_code=meta["county_code"],
        county_name=meta["county_name"],
        city=meta["city"],
        as_of=dt.date.fromisoformat(meta["as_of"]),
        public=False,
        synthetic=bool(meta["synthetic"]),
        **frames,
        layers={
            n: gpd.read_file(path, layer=n)
            for n in ("rivers", "roads", "clinics", "water", "schools")
        },
        roster=table("roster"),
        cadres=cadres,
        work_group_name=meta["work_group_name"] or None,
        dem_path=meta["dem_path"] or None,
    )


def time_ours(gpkg: Path, out_pdf: Path, out_png: Path, repeat: int) -> tuple[float, float, dict]:
    """Best times of (the sheet: page 1 with everything on it, the sheet with its 附表)."""
    from dataclasses import replace

    from maps.fonts import use_cjk_fonts
    from maps.wallmap.render import MapOptions, build_sheet, close, save, save_page

    use_cjk_fonts()  # start-up, like QGIS's initQgis: not timed
    options = MapOptions(paper="A1").check()
    best_sheet = best_all = float("inf")
    info = {}
    for _ in range(repeat):
        started = time.perf_counter()
        sheet = read_gpkg(gpkg)
        rendered = build_sheet(sheet, options)
        out_pdf.write_bytes(save(rendered, options))
        best_all = min(best_all, time.perf_counter() - started)
        close(rendered)
        started = time.perf_counter()
        sheet = read_gpkg(gpkg)
        rendered = build_sheet(sheet, options)
        first = replace(rendered, pages=rendered.pages[:1])
        out_pdf.with_name("ours_A1_sheet.pdf").write_bytes(save(first, options))
        best_sheet = min(best_sheet, time.perf_counter() - started)
        info = {
            "pages": len(rendered.pages),
            "scale": rendered.plan.view.scale,
            "orientation": rendered.plan.paper.orientation,
            "households": len(sheet.households),
        }
        if not out_png.exists():
            out_png.write_bytes(save_page(rendered.pages[0], "png", 40))
        close(rendered)
    return best_sheet, best_all, info


QGIS_SCRIPT = r"""
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import *
from qgis.PyQt.QtGui import QColor, QFont
args = json.loads(sys.argv[1])
app = QgsApplication([], False)
app.initQgis()
STATUS = {"poor": ("未脱贫", "#d7191c"), "returned": ("返贫", "#6a1b9a"), "exited": ("已脱贫", "#1b9e77")}
ROADS = {"national": ("国道", "#e34a33", 0.9), "provincial": ("省道", "#f58d3b", 0.8),
         "county": ("县道", "#fdd35c", 0.7), "township": ("乡道", "#888888", 0.5),
         "village": ("村道", "#aaaaaa", 0.3)}

def vector(name):
    layer = QgsVectorLayer(f"{args['gpkg']}|layername={name}", name, "ogr")
    assert layer.isValid(), name
    return layer

def categorised(layer, field, cats):
    categories = []
    for value, (label, colour, *rest) in cats.items():
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(colour))
        if rest and layer.geometryType() == QgsWkbTypes.LineGeometry:
            symbol.setWidth(rest[0])
        if layer.geometryType() == QgsWkbTypes.PointGeometry:
            symbol.setSize(1.6)
            symbol.symbolLayer(0).setStrokeColor(QColor("#ffffff"))
        categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))

def run(pdf, png):
    started = time.perf_counter()
    project = QgsProject.instance()
    project.clear()
    crs = QgsCoordinateReferenceSystem(f"EPSG:{args['epsg']}")
    project.setCrs(crs)
    dem = QgsRasterLayer(args["dem"], "山体阴影")
    dem.setRenderer(QgsHillshadeRenderer(dem.dataProvider(), 1, 315, 40))
    dem.renderer().setOpacity(0.35)
    villages = vector("villages")
    villages.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
        {"color": "243,233,207,150", "outline_color": "#5b5b5b", "outline_style": "dash", "outline_width": "0.2"})))
    township = vector("township")
    township.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": "#4a2f6b", "outline_width": "0.8"})))
    rivers = vector("rivers")
    rivers.setRenderer(QgsSingleSymbolRenderer(QgsLineSymbol.createSimple({"line_color": "#3f8fc7", "line_width": "0.3"})))
    roads = vector("roads"); categorised(roads, "road_class", ROADS)
    households = vector("households"); categorised(households, "status", STATUS)
    hamlets = vector("hamlets")
    label = QgsPalLayerSettings(); label.fieldName = "name"
    fmt = QgsTextFormat(); fmt.setFont(QFont("Noto Sans CJK SC")); fmt.setSize(7); label.setFormat(fmt)
    villages.setLabelsEnabled(True); villages.setLabeling(QgsVectorLayerSimpleLabeling(label))
    layers = [households, hamlets, roads, rivers, township, villages, dem]
    for layer in layers:
        project.addMapLayer(layer)
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(841, 594, QgsUnitTypes.LayoutMillimeters))
    item = QgsLayoutItemMap(layout)
    item.setRect(20, 20, 20, 20)  # a size first, or the extent does not take (PyQGIS cookbook)
    item.setCrs(crs)
    extent = QgsCoordinateTransform(township.crs(), crs, project).transformBoundingBox(township.extent())
    extent.scale(1.08)
    item.setExtent(extent)
    item.setLayers(layers)
    item.setFrameEnabled(True)
    layout.addLayoutItem(item)
    item.attemptMove(QgsLayoutPoint(15, 40, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(560, 530, QgsUnitTypes.LayoutMillimeters))
    item.zoomToExtent(extent)
    title = QgsLayoutItemLabel(layout)
    title.setText(args["title"])
    font = QFont("Noto Sans CJK SC"); font.setPointSize(40)
    title.setFont(font) if hasattr(title, "setFont") else title.setTextFormat(QgsTextFormat.fromQFont(font))
    title.attemptMove(QgsLayoutPoint(15, 8, QgsUnitTypes.LayoutMillimeters))
    title.attemptResize(QgsLayoutSize(800, 25, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(title)
    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(item)
    legend.attemptMove(QgsLayoutPoint(590, 40, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)
    bar = QgsLayoutItemScaleBar(layout)
    bar.setStyle("Single Box")
    bar.setLinkedMap(item)
    bar.applyDefaultSize()
    bar.attemptMove(QgsLayoutPoint(25, 540, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(bar)
    exporter = QgsLayoutExporter(layout)
    result = exporter.exportToPdf(pdf, QgsLayoutExporter.PdfExportSettings())
    assert result == QgsLayoutExporter.Success, result
    seconds = time.perf_counter() - started
    if png:
        settings = QgsLayoutExporter.ImageExportSettings(); settings.dpi = 40
        exporter.exportToImage(png, settings)
    return seconds

best = min(run(args["pdf"], args["png"] if i == 0 else None) for i in range(args["repeat"]))
app.exitQgis()
print(json.dumps({"seconds": best, "qgis": Qgis.QGIS_VERSION}))
"""


def time_qgis(
    gpkg: Path, sheet: SheetData, epsg: int, out_pdf: Path, out_png: Path, repeat: int
) -> tuple[float, str, float]:
    args = {
        "gpkg": str(gpkg),
        "dem": sheet.dem_path,
        "epsg": epsg,
        "title": sheet.title,
        "pdf": str(out_pdf),
        "png": str(out_png),
        "repeat": repeat,
    }
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": ""}
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/python3", "-c", QGIS_SCRIPT, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"QGIS failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["qgis"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--township", default="441882101")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "gongjian-wallmap-bench"
    )
    args = parser.parse_args()
    if not Path("/usr/bin/python3").exists():
        raise SystemExit(
            "needs the system python3 with python3-qgis (apt-get install -y python3-qgis)"
        )

    from api.cli_common import ready_engine
    from layers.demo import ensure_demo
    from layers.settings import DatabaseSettings
    from maps.wallmap.projection import LocalFrame

    settings = DatabaseSettings()
    engine = ready_engine(settings)
    ensure_demo(engine, settings.home)
    sheet = fetch_township_sheet(engine, args.township, as_of=AS_OF)
    centre = sheet.township.geometry.iloc[0].centroid
    epsg = LocalFrame.at(centre.x, centre.y).crs.to_epsg()
    args.out.mkdir(parents=True, exist_ok=True)
    gpkg = args.out / f"{args.township}.gpkg"
    gpkg.unlink(missing_ok=True)
    export_gpkg(sheet, gpkg)
    ours, ours_all, info = time_ours(
        gpkg, args.out / "ours_A1.pdf", args.out / "ours_A1.png", args.repeat
    )
    qgis, version, qgis_wall = time_qgis(gpkg, sheet, epsg, args.out / "qgis_A1.pdf",
                                         args.out / "qgis_A1.png", args.repeat)  # fmt: skip
    ratio, ratio_all = qgis / ours, qgis / ours_all
    print(f"township {args.township} {sheet.name}: {info['households']:,} households, A1 "
          f"{info['orientation']}, 1:{info['scale']:,}, {info['pages']} page(s)")  # fmt: skip
    size = (args.out / "ours_A1_sheet.pdf").stat().st_size / 1e6
    print(f"ours, the full sheet (map, legend, insets, tables)   {ours:7.2f} s  {size:5.1f} MB")
    size = (args.out / "ours_A1.pdf").stat().st_size / 1e6
    print(
        f"ours, sheet + 附表 pages (pairing table)              {ours_all:7.2f} s  {size:5.1f} MB"
    )
    size = (args.out / "qgis_A1.pdf").stat().st_size / 1e6
    print(f"QGIS {version}, layout (map, legend, scale bar, title) {qgis:7.2f} s  {size:5.1f} MB"
          f"  (subprocess with start-up: {qgis_wall:.1f} s)")  # fmt: skip
    print(f"ratio QGIS / ours = {ratio:.2f} (sheet), {ratio_all:.2f} (with 附表); target ≥ 1.0")
    print(f"PNGs and PDFs in {args.out}")
    print(json.dumps({"bench": "wallmap_vs_qgis", "township": args.township, "paper": "A1",
                      "ours_s": round(ours, 3), "ours_with_annex_s": round(ours_all, 3),
                      "qgis_s": round(qgis, 3), "ratio": round(ratio, 3),
                      "ratio_with_annex": round(ratio_all, 3), "qgis_version": version,
                      "households": info["households"]}))  # fmt: skip


if __name__ == "__main__":
    main()
