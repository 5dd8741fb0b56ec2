"""``gongjian export``: a layer to GeoPackage, GeoJSON, FlatGeobuf, Shapefile, CSV or XLSX.

Exports use the import's field names, so an exported file imports back unchanged (the
round trip the tests check). XLSX is for people: Chinese headers and labels, a frozen header
row, fitting column widths, ID numbers as text. CSV and XLSX cells that a spreadsheet would
run as a formula are neutralised. ``public=True`` shows what the sensitivity register
(geo/sensitivity.py) allows a public output: household names, ID numbers and phones masked,
incomes and free-text notes dropped, officials as they are.

>>> FORMATS["xlsx"], EXPORT_LAYERS["households"]
('.xlsx', 'household')
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo import vocab
from geo.columns import FIELD_ALIASES, map_headers
from geo.masking import neutralise_formula
from geo.sensitivity import public_frame
from layers.history import as_of_params, as_of_sql
from layers.models import VOCAB_COLUMNS, Base

EXPORT_LAYERS = {
    "counties": "county",
    "townships": "township",
    "villages": "village",
    "hamlets": "hamlet",
    "households": "household",
    "cadres": "cadre",
    "help-records": "help_record",
    "roads": "road",
    "clinics": "clinic",
    "water": "water",
    "schools": "school",
    "hazards": "hazard_zone",
}
IMPORT_KIND = {"counties": "boundaries"}  # export layer → import kind, where they differ
FORMATS = {
    "gpkg": ".gpkg",
    "geojson": ".geojson",
    "fgb": ".fgb",
    "shp": ".shp",
    "csv": ".csv",
    "xlsx": ".xlsx",
}
DRIVERS = {"gpkg": "GPKG", "geojson": "GeoJSON", "fgb": "FlatGeobuf", "shp": "ESRI Shapefile"}
SYSTEM_COLUMNS = {"id", "created_at", "updated_at", "version"}
TEXT_FIELDS = {
    "code",
    "household_no",
    "id_number",
    "phone",
    "village_code",
    "township_code",
    "county_code",
    "city_code",
}
MAX_WIDTH = 50


class ExportError(ValueError):
    """A layer or format that cannot be exported as asked."""


def export(
    engine: Engine,
    layer: str,
    path: Path,
    fmt: str,
    *,
    township: str | None = None,
    public: bool = False,
    as_of: dt.date | None = None,
) -> int:
    """Write ``layer`` (optionally one township's part) to ``path``; returns the row count.

    ``as_of`` (households only): the households as the archive (动态档案) had them that day —
    status, village, point, members, cadre and the incomes known then.

    >>> export(engine, "households", Path("out/h.xlsx"), "xlsx", public=True)  # doctest: +SKIP
    18000
    """
    if layer not in EXPORT_LAYERS:
        raise ExportError(f"unknown layer {layer!r}; expected one of {', '.join(EXPORT_LAYERS)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if township is not None and not (len(township) == 9 and township.isdigit()):
        raise ExportError(f"--township {township!r}: expected a 9-digit township code")
    if as_of is not None and EXPORT_LAYERS[layer] != "household":
        raise ExportError(f"--as-of applies to households only (the archive), not {layer!r}")
    frame = load_layer(engine, layer, township, as_of)
    if public:
        frame = make_public(frame, EXPORT_LAYERS[layer])
    write(frame, Path(path), fmt, layer)
    return len(frame)


# --- reading the layer ---------------------------------------------------------------------


def load_layer(
    engine: Engine, layer: str, township: str | None, as_of: dt.date | None = None
) -> gpd.GeoDataFrame:
    """The layer's rows with export column names; geometry as shapely (WGS84).

    ``as_of``: households as of that day (:func:`layers.history.as_of_sql`).
    """
    table = EXPORT_LAYERS[layer]
    columns = [c for c in Base.metadata.tables[table].c if c.name not in SYSTEM_COLUMNS]
    select = (
        [_select(c) for c in columns]
        + _extra_select(table)
        + ([f"{table}.id AS _id"] if "id" in Base.metadata.tables[table].c else [])
    )
    source, params = table, {"township": township}
    if as_of is not None:
        source = f"({as_of_sql('scope' if township else None)}) {table}"
        params |= as_of_params(township, as_of)
        select.append(f"{table}.incomes AS _incomes")
    sql = (
        f"SELECT {', '.join(select)} FROM {source} {_joins(table)} "
        f"WHERE {_where(table, township)} ORDER BY 1"
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(sa.text(sql), params).mappings().all())
        if frame.empty:
            frame = pd.DataFrame(columns=[s.rsplit(" AS ", 1)[-1] for s in select])
        frame = _with_incomes(conn, table, frame) if as_of is None else _incomes_as_of(frame)
    frame = frame.drop(columns=["household_id"] if table == "help_record" else [], errors="ignore")
    return _geo(frame.drop(columns=["_id"], errors="ignore"), table)


def _select(column: sa.Column) -> str:
    name = f'{column.table.name}."{column.name}"'
    if getattr(column.type, "geometry_type", None) is not None:
        return f'ST_AsBinary({name}) AS "{column.name}"'
    if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float):
        return f'{name}::float8 AS "{column.name}"'
    if isinstance(column.type, sa.CHAR):
        return f'rtrim({name}) AS "{column.name}"'
    return f'{name} AS "{column.name}"'


def _extra_select(table: str) -> list[str]:
    """Names next to ids, so the file reads well and imports by name too."""
    if table == "household":
        return ["hamlet.name AS hamlet", "cadre.name AS cadre"]
    if table == "help_record":
        return ["household.household_no AS household_no", "cadre.name AS cadre"]
    return []


def _joins(table: str) -> str:
    if table == "household":
        return (
            "LEFT JOIN hamlet ON hamlet.id = household.hamlet_id "
            "LEFT JOIN cadre ON cadre.id = household.cadre_id"
        )
    if table == "help_record":
        return (
            "JOIN household ON household.id = help_record.household_id "
            "LEFT JOIN cadre ON cadre.id = help_record.cadre_id"
        )
    return ""


def _where(table: str, township: str | None) -> str:
    if township is None:
        return "true"
    by_code = {
        "county": "county.code = left(:township, 6)",
        "township": "township.code = :township",
        "village": "village.township_code = :township",
        "cadre": "cadre.township_code = :township",
        "hamlet": "left(hamlet.village_code, 9) = :township",
        "household": "left(household.village_code, 9) = :township",
        "help_record": "left(household.village_code, 9) = :township",
        "clinic": "clinic.township_code = :township",
    }
    spatial = f"ST_Intersects({table}.geom, (SELECT geom FROM township WHERE code = :township))"
    return by_code.get(table, spatial)


def _with_incomes(conn: sa.Connection, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Income history as year columns: income_2016 (and collective_income_2016 for villages)."""
    if table == "household" and len(frame):
        rows = conn.execute(
            sa.text(
                "SELECT household_id, year, per_capita_income::float8 FROM household_income "
                "WHERE household_id = ANY(:ids)"
            ),
            {"ids": [int(i) for i in frame["_id"]]},
        ).all()
        return _pivot(frame, "_id", rows, ["income"])
    if table == "village" and len(frame):
        rows = conn.execute(
            sa.text(
                "SELECT village_code, year, per_capita_income::float8, collective_income::float8 "
                "FROM village_income WHERE village_code = ANY(:codes)"
            ),
            {"codes": list(frame["code"])},
        ).all()
        return _pivot(frame, "code", rows, ["income", "collective_income"])
    return frame


def _incomes_as_of(frame: pd.DataFrame) -> pd.DataFrame:
    """income_YEAR columns from the archive version's {year: per-capita income} card."""
    rows = [
        (key, int(year), float(value))
        for key, incomes in zip(frame["_id"], frame.pop("_incomes"), strict=True)
        for year, value in (incomes or {}).items()
        if value is not None
    ]
    return _pivot(frame, "_id", rows, ["income"])


def _pivot(frame: pd.DataFrame, key: str, rows: list, names: list[str]) -> pd.DataFrame:
    if not rows:
        return frame
    long = pd.DataFrame(rows, columns=["_key", "year", *names])
    for name in names:
        wide = long.pivot(index="_key", columns="year", values=name)
        wide = wide.dropna(axis=1, how="all")
        for year in wide.columns:
            frame[f"{name}_{year}"] = frame[key].map(wide[year])
    return frame


def _geo(frame: pd.DataFrame, table: str) -> gpd.GeoDataFrame:
    geometry = next(
        (
            c.name
            for c in Base.metadata.tables[table].c
            if getattr(c.type, "geometry_type", None) is not None and c.name == "geom"
        ),
        None,
    )
    for column in [
        c.name for c in Base.metadata.tables[table].c if getattr(c.type, "geometry_type", None)
    ]:
        if column in frame and column != geometry:  # township seats: a second geometry as WKT
            frame[column] = [
                None if b is None else shapely.to_wkt(shapely.from_wkb(bytes(b)))
                for b in frame[column]
            ]
    if geometry is None:
        return gpd.GeoDataFrame(frame)
    geoms = [None if b is None else shapely.from_wkb(bytes(b)) for b in frame.pop(geometry)]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326, index=frame.index))


# --- public masking -------------------------------------------------------------------------


def make_public(frame: gpd.GeoDataFrame, table: str) -> gpd.GeoDataFrame:
    """The layer as a public output shows it: the sensitivity register (geo/sensitivity.py)
    masks names, ID numbers and households' phones and drops incomes."""
    return public_frame(frame, table)


# --- writing --------------------------------------------------------------------------------


def write(frame: gpd.GeoDataFrame, path: Path, fmt: str, layer: str) -> None:
    """Write in ``fmt``; an existing file at ``path`` is replaced."""
    path.unlink(missing_ok=True)
    if fmt in DRIVERS:
        _write_vector(frame, path, fmt, layer)
    elif fmt == "csv":
        flat = _whole_numbers(_flat(frame), layer)
        text = [c for c in flat.columns if flat[c].dtype == object]  # Int64 would turn float
        flat[text] = flat[text].map(neutralise_formula)
        flat.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        flat = _whole_numbers(_flat(frame), layer)
        write_xlsx(_for_people(flat, layer), path, sheet=layer, notes=_notes(frame, layer))


def _whole_numbers(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """Integer columns as whole numbers (a column with blanks comes back from SQL as floats,
    and a CSV would say ``cadre_id`` 485.0, ``exit_year`` 2016.0)."""
    table = Base.metadata.tables[EXPORT_LAYERS[layer]]
    whole = [
        c.name
        for c in table.c
        if isinstance(c.type, sa.Integer) and c.name in frame and frame[c.name].dtype != bool
    ]
    if not whole:
        return frame
    out = frame.copy()
    for column in whole:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    return out


def _write_vector(frame: gpd.GeoDataFrame, path: Path, fmt: str, layer: str) -> None:
    out = frame
    if fmt == "shp":  # DBF names have 10 characters: income_2016 would collide
        out = frame.rename(
            columns=lambda c: c.replace("collective_income_", "cinc_").replace("income_", "inc_")
        )
        for suffix in (".shx", ".dbf", ".prj", ".cpg"):
            path.with_suffix(suffix).unlink(missing_ok=True)
    if not isinstance(out, gpd.GeoDataFrame) or "geometry" not in out:
        out = gpd.GeoDataFrame(out, geometry=[None] * len(out), crs=4326)
    options = {"layer": layer.replace("-", "_")} if fmt == "gpkg" else {}
    if fmt == "shp":
        options["encoding"] = "UTF-8"
    if fmt == "geojson":  # 17 decimals: every double survives the text round trip
        options["layer_options"] = {"COORDINATE_PRECISION": 17}
    pyogrio.write_dataframe(out, path, driver=DRIVERS[fmt], **options)


def _flat(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Points as longitude/latitude columns, other geometry as WKT (CSV/XLSX)."""
    out = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    if "geometry" not in frame or frame.geometry.isna().all():
        return out
    geoms = frame.geometry.to_numpy()
    if set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)])) == {0}:
        out.insert(min(3, len(out.columns)), "longitude", shapely.get_x(geoms))
        out.insert(min(4, len(out.columns)), "latitude", shapely.get_y(geoms))
    else:
        out["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1)
    return out


def _for_people(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """Chinese labels for value sets and yes/no, Chinese headers."""
    table = EXPORT_LAYERS[layer]
    out = frame.copy()
    for column in out.columns:
        values = VOCAB_COLUMNS.get((table, column)) or _vocab_of(column)
        if values is not None:
            out[column] = out[column].map(lambda c, v=values: v.get(c, c), na_action="ignore")
        elif out[column].dtype == bool or column in _bool_columns(table):
            out[column] = out[column].map({True: "是", False: "否"}, na_action="ignore")
    return out.rename(columns=chinese_headers(list(out.columns), IMPORT_KIND.get(layer, layer)))


def _vocab_of(column: str) -> dict[str, str] | None:
    return vocab.CAUSE if column == "secondary_cause" else None


def _bool_columns(table: str) -> set[str]:
    return {c.name for c in Base.metadata.tables[table].c if isinstance(c.type, sa.Boolean)}


def chinese_headers(columns: list[str], kind: str) -> dict[str, str]:
    """Field name → the first Chinese header the importer knows for it (so it maps back)."""
    mapped = map_headers(columns, kind).fields
    names = {}
    for column in columns:
        field = mapped.get(column)
        aliases = FIELD_ALIASES.get(kind, {}).get(field or "", ())
        chinese = next((a for a in aliases if not a.isascii()), None)
        if field and field.startswith("income_"):
            chinese = f"{field[7:]}年人均纯收入"
        elif field and field.startswith("collective_income_"):
            chinese = f"{field[18:]}年村集体收入"
        names[column] = chinese or column
    return names


def _notes(frame: pd.DataFrame, layer: str) -> list[tuple[str, str]]:
    synthetic = (
        int(frame["synthetic"].fillna(False).astype(bool).sum()) if "synthetic" in frame else 0
    )
    notes = [
        ("图层 layer", layer),
        ("导出时间 exported", dt.datetime.now().isoformat(timespec="seconds")),
        ("记录数 rows", str(len(frame))),
    ]
    if synthetic:
        notes.append(
            (
                "模拟数据 synthetic",
                f"{synthetic} 条为模拟数据 (synthetic demo data, not real people)",
            )
        )
    return notes


def write_xlsx(
    frame: pd.DataFrame,
    path: Path,
    *,
    sheet: str = "data",
    notes: list[tuple[str, str]] | None = None,
) -> None:
    """A workbook people can use: frozen header, fitting widths, text stays text, no formulas."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])
    ws.freeze_panes = "A2"
    headers = [str(c) for c in frame.columns]
    for i, width in enumerate(_widths(frame, headers)):
        ws.column_dimensions[_letter(i)].width = width
    bold = Font(bold=True)
    ws.append([_cell(ws, WriteOnlyCell, h, font=bold) for h in headers])
    text_columns = [
        _is_text_field(h, frame[c]) for h, c in zip(headers, frame.columns, strict=True)
    ]
    for row in frame.itertuples(index=False, name=None):
        ws.append(
            [_cell(ws, WriteOnlyCell, v, text=t) for v, t in zip(row, text_columns, strict=True)]
        )
    if notes:
        about = book.create_sheet("说明")
        for key, value in notes:
            about.append([key, value])
    book.save(path)


def _cell(ws, cell_type, value, *, text: bool = False, font=None):
    value = _excel_value(value)
    cell = cell_type(ws, value=neutralise_formula(value) if isinstance(value, str) else value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    if text:
        cell.number_format = "@"
    if font is not None:
        cell.font = font
    return cell


def _excel_value(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _is_text_field(header: str, values: pd.Series) -> bool:
    return values.dtype == object


def _widths(frame: pd.DataFrame, headers: list[str]) -> list[float]:
    widths = []
    for header, column in zip(headers, frame.columns, strict=True):
        sample = frame[column].head(1000).map(lambda v: _display_width(_excel_value(v)))
        longest = max([_display_width(header), 6, *sample.tolist()])
        widths.append(min(MAX_WIDTH, longest + 2))
    return widths


def _display_width(value: object) -> int:
    """Characters as Excel shows them: CJK count double."""
    if value is None:
        return 0
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)
