"""Reading the files people have (GeoPackage, Shapefile also zipped, GeoJSON, FlatGeobuf, CSV,
XLSX) into one shape, and writing rejected rows back in the same format.

Vector formats go through pyogrio/GDAL, workbooks through openpyxl (which parses its XML with
defusedxml when installed), CSV through pandas; nothing here parses a file format by hand.
Files are untrusted: sizes are checked before reading, zip archives before unpacking.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from layers.imports.base import ImportError_, UploadTooLarge

VECTOR_FORMATS = {
    ".gpkg": "gpkg",
    ".shp": "shp",
    ".geojson": "geojson",
    ".json": "geojson",
    ".fgb": "fgb",
}
TABLE_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls"}
DRIVERS = {"gpkg": "GPKG", "shp": "ESRI Shapefile", "geojson": "GeoJSON", "fgb": "FlatGeobuf"}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
MAX_ZIP_RATIO = 200  # a member that unpacks to more than 200× its packed size is a zip bomb
MAX_ZIP_MEMBERS = 1000
HEADER_SEARCH_ROWS = 20  # title rows above the header are common in Chinese lists

HeaderScore = Callable[[list[object]], int]


@dataclass
class Source:
    """A file's data as read: attributes, geometry in the file's CRS, and where rows came from."""

    path: Path
    format: str
    frame: pd.DataFrame
    geometry: np.ndarray | None = None
    crs: CRS | None = None
    layer: str | None = None
    row_numbers: np.ndarray | None = None  # the row number a user sees for each data row
    zipped: bool = False
    notes: list[str] = field(default_factory=list)

    def row(self, position: int) -> int:
        if self.row_numbers is None:
            return position + 2
        return int(self.row_numbers[position])

    def __len__(self) -> int:
        return len(self.frame)


def read_source(
    path: Path,
    *,
    max_bytes: int,
    score: HeaderScore,
    layer: str | None = None,
    layer_names: tuple[str, ...] = (),
) -> Source:
    """Read ``path`` by its suffix. ``score`` rates a candidate header row (recognised
    columns) and ``layer_names`` are the layer names to pick in a multi-layer file."""
    path = Path(path)
    if not path.exists():
        raise ImportError_(f"{path}: no such file")
    suffix = path.suffix.lower()
    check_size(path, max_bytes)
    if suffix == ".zip":
        return _read_zip(path, max_bytes, score, layer, layer_names)
    if suffix in VECTOR_FORMATS:
        return _read_vector(path, VECTOR_FORMATS[suffix], layer, layer_names)
    if suffix == ".csv":
        return _read_csv(path, score)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, score, layer, max_bytes)
    if suffix == ".xls":
        return _read_xls(path, score, layer)
    known = ", ".join(sorted({*VECTOR_FORMATS, *TABLE_FORMATS, ".zip"}))
    raise ImportError_(f"{path.name}: unknown file type {suffix!r}; expected one of {known}")


# --- size and zip safety ---------------------------------------------------------------------


def check_size(path: Path, max_bytes: int) -> None:
    """Refuse files (with their shapefile parts) larger than the upload limit."""
    size = sum(p.stat().st_size for p in _with_parts(path))
    if size > max_bytes:
        raise UploadTooLarge(
            f"{path.name}: {size / 1e6:.1f} MB is more than the import limit of "
            f"{max_bytes / 1e6:.1f} MB"
        )


def _with_parts(path: Path) -> list[Path]:
    if path.suffix.lower() != ".shp":
        return [path]
    return [p for p in (sidecar(path, s) for s in SHAPEFILE_PARTS) if p is not None]


def check_zip(archive: zipfile.ZipFile, name: str, max_bytes: int) -> list[zipfile.ZipInfo]:
    """The archive's file members, after checking count, sizes, ratios and paths."""
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_ZIP_MEMBERS:
        raise ImportError_(
            f"{name}: {len(members)} files in the archive, at most {MAX_ZIP_MEMBERS}"
        )
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise UploadTooLarge(
            f"{name}: unpacks to {total / 1e6:.1f} MB, more than the import limit of "
            f"{max_bytes / 1e6:.1f} MB"
        )
    for m in members:
        if m.file_size > MAX_ZIP_RATIO * max(m.compress_size, 1) and m.file_size > 1_000_000:
            raise ImportError_(
                f"{name}: {m.filename} unpacks {m.file_size // max(m.compress_size, 1)}× its "
                "size: refused as a zip bomb"
            )
        if m.filename.startswith(("/", "\\")) or ".." in Path(m.filename).parts:
            raise ImportError_(f"{name}: unsafe path {m.filename!r} in the archive")
    return members


def _read_zip(path, max_bytes, score, layer, layer_names) -> Source:
    with zipfile.ZipFile(path) as archive:
        members = check_zip(archive, path.name, max_bytes)
        data = [
            m
            for m in members
            if Path(m.filename).suffix.lower() in {*VECTOR_FORMATS, *TABLE_FORMATS}
        ]
        shapefiles = [m for m in data if m.filename.lower().endswith(".shp")]
        chosen = shapefiles or data
        if len(chosen) != 1:
            found = ", ".join(m.filename for m in chosen) or "no data file"
            raise ImportError_(f"{path.name}: expected one data file in the archive, found {found}")
        target = chosen[0]
        stem = target.filename[: -len(Path(target.filename).suffix)]
        wanted = [
            m
            for m in members
            if m.filename == target.filename
            or (shapefiles and m.filename[: -len(Path(m.filename).suffix) or None] == stem)
        ]
        with tempfile.TemporaryDirectory(prefix="gongjian-zip-") as folder:
            for m in wanted:
                out = Path(folder) / Path(m.filename).name
                out.write_bytes(archive.read(m))
            inner = read_source(
                Path(folder) / Path(target.filename).name,
                max_bytes=max_bytes,
                score=score,
                layer=layer,
                layer_names=layer_names,
            )
    inner.path, inner.zipped = path, True
    return inner


# --- vector files ----------------------------------------------------------------------------


def sidecar(shp: Path, suffix: str) -> Path | None:
    """The shapefile part with ``suffix``, matched case-insensitively (.DBF, .Prj …)."""
    for candidate in shp.parent.glob(shp.stem + ".*"):
        if candidate.stem == shp.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def _read_vector(path: Path, fmt: str, layer: str | None, layer_names) -> Source:
    encoding, notes = None, []
    if fmt == "shp":
        encoding, notes = _shapefile_checks(path)
    chosen = _choose_layer(path, layer, layer_names)
    try:
        frame = pyogrio.read_dataframe(path, layer=chosen, encoding=encoding, use_arrow=_arrow())
    except Exception as exc:  # GDAL's errors come in many types; say which file
        raise ImportError_(f"{path.name}: cannot be read as a {fmt} file: {exc}") from exc
    geometry = frame.geometry.to_numpy() if "geometry" in frame else None
    crs = CRS.from_user_input(frame.crs) if frame.crs is not None else None
    attributes = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    if fmt == "shp" and crs is None:
        notes.append(f"{path.stem}.prj is missing: the coordinate system is not declared")
    return Source(path, fmt, attributes, geometry, crs, chosen, notes=notes)


def _arrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _choose_layer(path: Path, layer: str | None, layer_names: tuple[str, ...]) -> str | None:
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:
        raise ImportError_(f"{path.name}: cannot be read: {exc}") from exc
    if layer is not None:
        if layer not in layers:
            raise ImportError_(f"{path.name}: no layer {layer!r}; layers: {', '.join(layers)}")
        return layer
    if len(layers) <= 1:
        return layers[0] if layers else None
    named = [name for name in layers if name.lower() in layer_names]
    if len(named) == 1:
        return named[0]
    raise ImportError_(
        f"{path.name} has several layers ({', '.join(layers)}): say which with --layer"
    )


def _shapefile_checks(shp: Path) -> tuple[str | None, list[str]]:
    """Missing parts named clearly; the DBF's text encoding guessed when there is no .cpg."""
    for suffix, what in ((".shx", "the index"), (".dbf", "the attribute table")):
        if sidecar(shp, suffix) is None:
            raise ImportError_(
                f"{shp.name}: {shp.stem}{suffix} ({what}) is missing; a shapefile is several "
                f"files: copy {', '.join(shp.stem + s for s in SHAPEFILE_PARTS)} together"
            )
    if sidecar(shp, ".cpg") is not None:
        return None, []
    encoding = dbf_encoding(sidecar(shp, ".dbf"))
    note = f"{shp.stem}.cpg is missing: text read as {encoding}"
    return encoding, [note]


def dbf_encoding(dbf: Path) -> str:
    """UTF-8 when the DBF's records decode as UTF-8, else GB18030 (GBK), China's default."""
    raw = dbf.read_bytes()
    header_length = int.from_bytes(raw[8:10], "little")
    try:
        raw[header_length:].decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030"
    return "UTF-8"


# --- tables ----------------------------------------------------------------------------------


def _read_csv(path: Path, score: HeaderScore) -> Source:
    raw = path.read_bytes()
    encoding, note = "utf-8-sig", []
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding, note = "gb18030", [f"{path.name} is not UTF-8: read as GBK (GB18030)"]
    try:
        table = pd.read_csv(
            path,
            dtype=str,
            header=None,
            keep_default_na=False,
            encoding=encoding,
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImportError_(f"{path.name}: cannot be read as CSV: {exc}") from exc
    rows = table.to_numpy(dtype=object).tolist()
    return _table_source(path, "csv", rows, score, None, note)


def _read_xlsx(path: Path, score: HeaderScore, sheet: str | None, max_bytes: int) -> Source:
    import openpyxl
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:  # openpyxl parses with defusedxml only when it is installed
        raise ImportError_(f"{path.name}: install defusedxml to read untrusted workbooks safely")
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip(archive, path.name, max_bytes)
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ImportError_(f"{path.name}: cannot be read as an Excel workbook: {exc}") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise ImportError_(
                f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(book.sheetnames)}"
            )
        sheets = [sheet] if sheet else book.sheetnames
        best = max(sheets, key=lambda s: _sheet_score(book[s], score))
        rows = [list(r) for r in book[best].iter_rows(values_only=True)]
    finally:
        book.close()
    return _table_source(path, "xlsx", rows, score, best, [])


def _read_xls(path: Path, score: HeaderScore, sheet: str | None) -> Source:
    """An Excel 97–2003 workbook (.xls, still what many office systems export) via xlrd.

    Cells come back as openpyxl gives them for .xlsx: whole numbers as int (a household
    number typed as a number), dates as datetime, so both formats check alike — an ID number
    Excel stored as a number is still a number here, and refused.
    """
    import xlrd

    try:
        book = xlrd.open_workbook(path, on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError) as exc:
        message = f"{path.name}: cannot be read as an Excel 97–2003 workbook: {exc}"
        raise ImportError_(message) from exc
    try:
        names = book.sheet_names()
        if sheet is not None and sheet not in names:
            raise ImportError_(f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(names)}")
        candidates = [sheet] if sheet else names
        sheets = {name: _xls_rows(book, book.sheet_by_name(name)) for name in candidates}
    finally:
        book.release_resources()
    best = max(candidates, key=lambda n: max(map(score, sheets[n][:HEADER_SEARCH_ROWS]), default=0))
    return _table_source(path, "xls", sheets[best], score, best, [])


def _xls_rows(book, sheet) -> list[list]:
    import xlrd

    def value(cell):
        if cell.ctype == xlrd.XL_CELL_DATE:
            return xlrd.xldate_as_datetime(cell.value, book.datemode)
        if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
            return int(cell.value)
        if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
            return None
        return cell.value

    return [[value(c) for c in sheet.row(i)] for i in range(sheet.nrows)]


def _sheet_score(sheet, score: HeaderScore) -> int:
    rows = sheet.iter_rows(values_only=True, max_row=HEADER_SEARCH_ROWS)
    return max((score(list(r)) for r in rows), default=0)


def _table_source(path, fmt, rows: list[list], score, layer, notes) -> Source:
    """Rows of cells → Source: header found by ``score``, blank rows dropped."""
    if not rows:
        raise ImportError_(f"{path.name}: the file is empty")
    candidates = rows[:HEADER_SEARCH_ROWS]
    header_at = max(range(len(candidates)), key=lambda i: (score(candidates[i]), -i))
    header = [_header_text(h, i) for i, h in enumerate(rows[header_at])]
    body = rows[header_at + 1 :]
    width = len(header)
    numbers, kept = [], []
    for offset, row in enumerate(body):
        cells = (list(row) + [None] * width)[:width]
        if any(c is not None and str(c).strip() != "" for c in cells):
            kept.append([None if isinstance(c, str) and c.strip() == "" else c for c in cells])
            numbers.append(header_at + offset + 2)  # 1-based, below the header
    frame = pd.DataFrame(kept, columns=_unique(header), dtype=object)
    return Source(
        path, fmt, frame, None, None, layer, np.array(numbers, dtype=np.int64), notes=notes
    )


def _header_text(value: object, index: int) -> str:
    text = "" if value is None else str(value).strip()
    return text or f"column {index + 1}"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
    return result


# --- rejects ---------------------------------------------------------------------------------

ERROR_COLUMN = "error"


def rejects_path(source: Source) -> Path:
    """``households.xlsx`` → ``households.rejects.xlsx`` next to the input (an .xls input
    gets .xlsx rejects: nothing well kept writes the old format)."""
    suffix = ".xlsx" if source.format == "xls" else source.path.suffix
    return source.path.with_name(f"{source.path.stem}.rejects{suffix}")


def write_rejects(source: Source, errors: dict[int, str], target: Path | None = None) -> Path:
    """Rejected rows in the input's format, with an ``error`` column saying why; into
    ``target`` when given, else next to the input (:func:`rejects_path`)."""
    positions = sorted(errors)
    frame = source.frame.iloc[positions].copy()
    frame[ERROR_COLUMN] = [errors[p] for p in positions]
    target = target or rejects_path(source)
    target.unlink(missing_ok=True)
    if source.format == "csv":
        frame.to_csv(target, index=False, encoding="utf-8-sig")
    elif source.format in ("xlsx", "xls"):
        _write_xlsx_rows(target, frame)
    elif source.zipped:
        _write_zipped_shapefile(target, frame, source)
    else:
        _write_vector(target, frame, source)
    return target


def _write_xlsx_rows(target: Path, frame: pd.DataFrame) -> None:
    from layers.exports import write_xlsx

    write_xlsx(frame, target, sheet="rejects")


def _write_vector(target: Path, frame: pd.DataFrame, source: Source) -> None:
    import geopandas as gpd

    geometry = source.geometry[frame.index.to_numpy()] if source.geometry is not None else None
    out = gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=geometry, crs=source.crs)
    options = {"layer": source.layer} if source.format == "gpkg" and source.layer else {}
    pyogrio.write_dataframe(out, target, driver=DRIVERS[source.format], **options)


def _write_zipped_shapefile(target: Path, frame: pd.DataFrame, source: Source) -> None:
    with tempfile.TemporaryDirectory(prefix="gongjian-rejects-") as folder:
        shp = Path(folder) / f"{target.stem}.shp"
        _write_vector(shp, frame, source)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(folder).iterdir()):
                archive.write(part, part.name)
