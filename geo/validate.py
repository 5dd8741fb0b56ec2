"""Checks of imported values, vectorised over pandas Series; no database.

Every parser returns the parsed values and a list of :class:`Problem` (row position, field,
message a clerk can act on). Importers collect all problems of a file before refusing it,
so one round of corrections fixes everything.

>>> values, problems = parse_int(pd.Series(["3", "３", "x"]), "members", low=1)
>>> values.tolist(), problems
([3, 3, None], [Problem(index=2, field='members', message="'x' is not a whole number")])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import shapely

from geo import idnumber
from geo.columns import (
    bool_for_value,
    clean_strings,
    clean_text,
    code_for_value,
    map_distinct,
)
from geo.crs import bd09_to_wgs84, gcj02_to_wgs84

# lon/lat box of Guangdong with a margin of ~10 km (data/boundaries: 109.6–117.3, 20.2–25.5)
GUANGDONG_BOUNDS = (109.5, 20.1, 117.4, 25.6)
# generous box around China: polygons and lines of other layers must at least be here
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
PHONE = re.compile(r"^(?:\+?86[ -]?)?(?:1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}[ -]?\d{7,8})$")
YEARS = (2000, 2100)  # the schema's year range


@dataclass(frozen=True)
class Problem:
    """What is wrong with one value: row position in the file's data, field, message."""

    index: int
    field: str
    message: str


Parsed = tuple[pd.Series, list[Problem]]


def _parse_each(series: pd.Series, field: str, func: Callable[[object], object]) -> Parsed:
    """Apply ``func`` once per distinct value; ValueError becomes a Problem of each row."""
    failures: dict[object, str] = {}

    def safe(value: object) -> object:
        try:
            return func(value)
        except ValueError as exc:
            failures[value] = str(exc)
            return None

    values = map_distinct(series, safe)
    if not failures:
        return values, []
    bad = series.isin(list(failures))
    problems = [
        Problem(int(i), field, failures[v])
        for i, v in zip(np.flatnonzero(bad), series[bad], strict=True)
    ]
    return values, problems


def required(values: pd.Series, field: str) -> list[Problem]:
    """A problem for every blank cell of a required field."""
    return [Problem(int(i), field, "missing") for i in np.flatnonzero(values.isna().to_numpy())]


def parse_text(series: pd.Series, field: str, *, max_length: int = 200) -> Parsed:
    """Trimmed NFKC text, None for blanks."""
    cleaned = clean_strings(series)
    if cleaned is not None:  # text columns: vectorised
        import pyarrow.compute as pc

        values = pd.Series(cleaned.to_numpy(zero_copy_only=False), index=series.index, dtype=object)
        lengths = pc.fill_null(pc.utf8_length(cleaned), 0).to_numpy(zero_copy_only=False)
        long = np.flatnonzero(lengths > max_length)
        problems = [Problem(int(i), field, f"longer than {max_length} characters") for i in long]
        values.iloc[long] = None
        return values, problems

    def text(value: object) -> str | None:
        result = clean_text(value)
        if result is not None and len(result) > max_length:
            raise ValueError(f"longer than {max_length} characters")
        return result

    return _parse_each(series, field, text)


def parse_code(series: pd.Series, field: str, digits: int) -> Parsed:
    """Administrative codes of exactly ``digits`` digits (numbers from Excel are fine here).

    >>> parse_code(pd.Series(["441882", 441882.0, "4418"]), "code", 6)[1][0].message
    "'4418' is not a 6-digit code"
    """
    pattern = re.compile(rf"^\d{{{digits}}}$")

    def code(value: object) -> str | None:
        text = clean_text(value)
        if text is not None and not pattern.match(text):
            raise ValueError(f"{text!r} is not a {digits}-digit code")
        return text

    return _parse_each(series, field, code)


def parse_int(
    series: pd.Series, field: str, *, low: int | None = None, high: int | None = None
) -> Parsed:
    """Whole numbers within [low, high]; full-width digits and 3.0 are accepted."""

    def whole(value: object) -> int | None:
        text = clean_text(value)
        if text is None:
            return None
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number")
        _check_range(number, text, low, high)
        return int(number)

    if pd.api.types.is_integer_dtype(series.dtype) and len(series) != 0:
        return _fast_int(series, field, low, high)
    return _parse_each(series, field, whole)


def _fast_int(series: pd.Series, field: str, low: int | None, high: int | None) -> Parsed:
    """Integer columns of GeoPackages: only the range needs checking."""
    array = series.to_numpy()
    bad = np.zeros(len(array), dtype=bool)
    if low is not None:
        bad |= array < low
    if high is not None:
        bad |= array > high
    problems = [
        Problem(int(i), field, _range_message(array[i], low, high)) for i in np.flatnonzero(bad)
    ]
    values = pd.Series(array.astype(object), index=series.index)
    values[bad] = None
    return values, problems


def _check_range(number: float, text: str, low: float | None, high: float | None) -> None:
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(_range_message(text, low, high))


def _range_message(value: object, low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{value} is outside {low}–{high}"
    return f"{value} is below {low}" if low is not None else f"{value} is above {high}"


def parse_year(series: pd.Series, field: str) -> Parsed:
    """Years 2000–2100 (the schema's range); 2016.0 and ２０１６ are fine."""
    return parse_int(series, field, low=YEARS[0], high=YEARS[1])


def parse_number(series: pd.Series, field: str, *, low: float | None = 0.0) -> Parsed:
    """Decimal amounts ≥ ``low``; thousands separators and a trailing 元 are accepted."""

    def number(value: object) -> float | None:
        text = clean_text(value)
        if text is None:
            return None
        try:
            result = float(text.replace(",", "").removesuffix("元"))
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is not a number")
        _check_range(result, text, low, None)
        return result

    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
        array = series.to_numpy(dtype=float)
        bad = np.zeros(len(array), bool) if low is None else (array < low)
        problems = [
            Problem(int(i), field, _range_message(array[i], low, None)) for i in np.flatnonzero(bad)
        ]
        values = pd.Series(
            np.where(np.isnan(array) | bad, None, array).astype(object), index=series.index
        )
        return values, problems
    return _parse_each(series, field, number)


def parse_bool(series: pd.Series, field: str) -> Parsed:
    """是/否, 有/无, Y/N, true/false, 1/0 (see geo.columns.bool_for_value)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(object), []
    return _parse_each(series, field, bool_for_value)


def parse_vocab(series: pd.Series, field: str, vocab_name: str) -> Parsed:
    """Codes of a value set, given as code, Chinese label or synonym (因病致贫 → illness)."""
    return _parse_each(series, field, lambda value: code_for_value(vocab_name, value))


def parse_date(series: pd.Series, field: str) -> Parsed:
    """Dates as 2016-09-01, 2016/9/1, 2016年9月1日, 20160901 or an Excel date cell."""

    def as_date(value: object) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = clean_text(value)
        if text is None:
            return None
        match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?", text)
        match = match or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
        try:
            return date(*(int(g) for g in match.groups())) if match else _bad_date(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None

    return _parse_each(series, field, as_date)


def _bad_date(text: str) -> date:
    raise ValueError(f"{text!r} is not a date (write 2016-09-01)")


def parse_id_numbers(
    series: pd.Series, field: str = "id_number", today: date | None = None
) -> Parsed:
    """18-character resident ID numbers (GB 11643), checked but never "repaired".

    Numbers that Excel stored as numbers (15 significant digits, ``…000``, ``4.4E+17``) are
    refused with a message saying so (geo.idnumber.explain_invalid). Valid numbers take a
    vectorised fast path; only the rest are explained one by one.
    """
    cleaned = clean_strings(series)
    if cleaned is not None:
        texts = pd.Series(cleaned.to_numpy(zero_copy_only=False), index=series.index, dtype=object)
    else:
        texts = series.map(lambda v: clean_text(v) if isinstance(v, str) else v, na_action="ignore")
    ok = _valid_id_mask(texts, today or date.today())
    values = texts.where(ok, None).astype(object)
    values[texts.isna()] = None
    problems: list[Problem] = []
    for i in np.flatnonzero(~ok & texts.notna().to_numpy()):
        raw = texts.iloc[i]
        message = idnumber.explain_invalid(raw, today) or "invalid"
        problems.append(Problem(int(i), field, f"{raw!r}: {message}"))
    return values, problems


def _valid_id_mask(texts: pd.Series, today: date) -> np.ndarray:
    """True where a value is a valid 18-character number (format, region, date, check)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    is_str = np.fromiter((isinstance(v, str) for v in texts), dtype=bool, count=len(texts))
    strings = pa.array(np.where(is_str, texts.to_numpy(dtype=object), None), type=pa.string())
    shaped = pc.fill_null(pc.match_substring_regex(strings, r"^\d{17}[\dX]$"), False)
    shaped = np.asarray(shaped.to_numpy(zero_copy_only=False), dtype=bool)
    ok = np.zeros(len(texts), dtype=bool)
    if not shaped.any():
        return ok
    chosen = strings.filter(pa.array(shaped))
    digits = np.frombuffer(
        pc.binary_join_element_wise(chosen, "").cast(pa.binary()).buffers()[2], dtype=np.uint8
    )[: 18 * len(chosen)].reshape(-1, 18)
    body = digits[:, :17].astype(np.int64) - ord("0")
    expected = np.frombuffer(idnumber.CHECK_CHARS.encode(), dtype=np.uint8)[
        (body * np.array(idnumber.WEIGHTS)).sum(axis=1) % 11
    ]
    born = pc.strptime(
        pc.utf8_slice_codeunits(chosen, 6, 14), format="%Y%m%d", unit="s", error_is_null=True
    )
    born = pd.to_datetime(born.to_numpy(zero_copy_only=False))
    prefix = pc.is_in(
        pc.utf8_slice_codeunits(chosen, 0, 2), pa.array(sorted(idnumber.PROVINCE_PREFIXES))
    )
    plausible = (
        born.notna() & (born.year >= idnumber.EARLIEST_BIRTH_YEAR) & (born <= pd.Timestamp(today))
    )
    ok[shaped] = (
        (digits[:, 17] == expected) & np.asarray(prefix, dtype=bool) & np.asarray(plausible)
    )
    return ok


def parse_phones(series: pd.Series, field: str = "phone") -> Parsed:
    """Mobile (11 digits from 13…19) or landline (0 + area code + 7–8 digits) numbers.

    >>> parse_phones(pd.Series(["13800000000", "0763-6600000", 7636600000]))[1][0].message
    "'7636600000' is not a phone number (a landline that lost its leading 0?)"
    """
    cleaned = clean_strings(series)
    if cleaned is None:
        return _parse_each(series, field, _phone)
    import pyarrow.compute as pc  # text columns: only numbers that do not match go one by one

    ok = pc.fill_null(pc.match_substring_regex(cleaned, PHONE.pattern), True)
    ok = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    values = pd.Series(cleaned.to_numpy(zero_copy_only=False), index=series.index, dtype=object)
    bad = np.flatnonzero(~ok)
    _, problems = _parse_each(values.iloc[bad].reset_index(drop=True), field, _phone)
    values.iloc[bad] = None
    return values, [Problem(int(bad[p.index]), field, p.message) for p in problems]


def _phone(value: object) -> str | None:
    text = clean_text(value)
    if text is None:
        return None
    if PHONE.match(text):
        return text
    lost_zero = re.fullmatch(r"[2-9]\d{9,10}", text) is not None
    hint = " (a landline that lost its leading 0?)" if lost_zero else ""
    raise ValueError(f"{text!r} is not a phone number{hint}")


def duplicates(values: pd.Series, field: str, rows: Sequence[int]) -> list[Problem]:
    """A problem for each repeat of a value, naming the row where it first appeared."""
    present = values.notna().to_numpy()
    repeated = values.duplicated(keep="first").to_numpy() & present
    if not repeated.any():
        return []
    first_row = {}
    for i in np.flatnonzero(present & values.duplicated(keep=False).to_numpy()):
        first_row.setdefault(values.iloc[i], rows[i])
    return [
        Problem(int(i), field, f"{values.iloc[i]} repeats row {first_row[values.iloc[i]]}")
        for i in np.flatnonzero(repeated)
    ]


# --- coordinates and geometry ---------------------------------------------------------------


def check_lonlat(
    lon: np.ndarray, lat: np.ndarray, bounds: tuple[float, float, float, float] = GUANGDONG_BOUNDS
) -> list[Problem]:
    """Missing, swapped or out-of-area longitude/latitude pairs.

    >>> [p.message[:34] for p in check_lonlat(np.array([24.78, 2.0]), np.array([112.38, 48.0]))]
    ['latitude and longitude look swappe', '(2.000000, 48.000000) is outside G']
    """
    minx, miny, maxx, maxy = bounds
    problems = []
    missing = np.isnan(lon) | np.isnan(lat)
    inside = (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
    swapped = (lat >= minx) & (lat <= maxx) & (lon >= miny) & (lon <= maxy)
    area = "Guangdong" if bounds == GUANGDONG_BOUNDS else "the expected area"
    for i in np.flatnonzero(missing | ~inside):
        if missing[i]:
            problems.append(Problem(int(i), "longitude", "missing longitude or latitude"))
        elif swapped[i]:
            problems.append(
                Problem(
                    int(i),
                    "longitude",
                    "latitude and longitude look swapped "
                    f"({lon[i]:.6f}, {lat[i]:.6f}): longitude comes first",
                )
            )
        else:
            problems.append(
                Problem(
                    int(i),
                    "longitude",
                    f"({lon[i]:.6f}, {lat[i]:.6f}) is outside "
                    f"{area}: wrong columns or coordinate system?",
                )
            )
    return problems


def check_geometries(
    geoms: np.ndarray, kinds: set[str], bounds: tuple[float, float, float, float] = CHINA_BOUNDS
) -> list[Problem]:
    """Empty, invalid, wrongly typed or out-of-area geometries (WGS84), one problem each."""
    problems = []
    minx, miny, maxx, maxy = bounds
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    names = np.array(
        [
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )
    valid = shapely.is_valid(geoms)
    box = shapely.bounds(geoms)
    for i in np.flatnonzero(empty | ~valid | ~np.isin(names[np.maximum(types, 0)], list(kinds))):
        if empty[i]:
            problems.append(Problem(int(i), "geometry", "empty geometry"))
        elif names[types[i]] not in kinds:
            problems.append(
                Problem(
                    int(i), "geometry", f"{names[types[i]]}, expected " + " or ".join(sorted(kinds))
                )
            )
        else:
            reason = shapely.is_valid_reason(geoms[i])
            problems.append(Problem(int(i), "geometry", f"invalid: {reason}"))
    outside = ~empty & (
        (box[:, 0] < minx) | (box[:, 2] > maxx) | (box[:, 1] < miny) | (box[:, 3] > maxy)
    )
    problems += [
        Problem(
            int(i),
            "geometry",
            f"outside the expected area at ({box[i, 0]:.4f}, "
            f"{box[i, 1]:.4f}): wrong coordinate system?",
        )
        for i in np.flatnonzero(outside & valid)
    ]
    return problems


def household_rules(frame: pd.DataFrame) -> list[Problem]:
    """Rules across fields of a household row (the schema's CHECKs, said in words)."""
    problems = []
    if "members" in frame and "labour_members" in frame:  # a list may state neither
        members = pd.to_numeric(frame["members"], errors="coerce")
        labour = pd.to_numeric(frame["labour_members"], errors="coerce")
        for i in np.flatnonzero((labour > members).to_numpy()):
            problems.append(
                Problem(
                    int(i),
                    "labour_members",
                    f"{int(labour.iloc[i])} labourers but only {int(members.iloc[i])} members",
                )
            )
    status, exit_year = frame.get("status"), frame.get("exit_year")
    if status is not None and exit_year is not None:
        has_year = exit_year.notna().to_numpy()
        poor = (status == "poor").to_numpy()
        out = status.isin(["exited", "returned"]).to_numpy()
        for i in np.flatnonzero(poor & has_year):
            problems.append(
                Problem(
                    int(i),
                    "exit_year",
                    f"{exit_year.iloc[i]} given but the household has not exited (未脱贫)",
                )
            )
        for i in np.flatnonzero(out & ~has_year):
            problems.append(
                Problem(
                    int(i),
                    "exit_year",
                    "missing: an exited or returned household needs its exit year",
                )
            )
    registered = frame.get("registered_year")
    if registered is not None and exit_year is not None:
        early = (
            pd.to_numeric(exit_year, errors="coerce") < pd.to_numeric(registered, errors="coerce")
        ).to_numpy()
        for i in np.flatnonzero(early):
            problems.append(
                Problem(
                    int(i),
                    "exit_year",
                    f"{exit_year.iloc[i]} is before the registration year {registered.iloc[i]}",
                )
            )
    main, secondary = frame.get("main_cause"), frame.get("secondary_cause")
    if main is not None and secondary is not None:
        for i in np.flatnonzero((secondary.notna() & (secondary == main)).to_numpy()):
            problems.append(Problem(int(i), "secondary_cause", "same as the main cause"))
    return problems


# --- coordinate systems of Chinese apps ------------------------------------------------------


@dataclass(frozen=True)
class OffsetGuess:
    """How many points fit their declared polygons as given and after each correction."""

    total: int
    as_given: int
    gcj02: int
    bd09: int

    @property
    def better(self) -> str | None:
        """'gcj02' or 'bd09' when a correction fits clearly better, else None.

        Clearly: at least twice as many points fit after the correction and at most a
        third of the misfits remain.
        """
        best = "gcj02" if self.gcj02 >= self.bd09 else "bd09"
        fit = getattr(self, best)
        misfits, left = self.total - self.as_given, self.total - fit
        if misfits == 0 or fit <= self.as_given:
            return None
        return (
            best
            if left * 3 <= misfits and (self.as_given == 0 or fit >= 1.2 * self.as_given)
            else None
        )


def guess_offset(lon: np.ndarray, lat: np.ndarray, polygons: np.ndarray) -> OffsetGuess:
    """Compare how points fit their polygons as WGS84, as GCJ-02 and as BD-09 coordinates.

    Phone apps give GCJ-02 (AMap, Tencent) or BD-09 (Baidu), ~500 m off in Guangdong: enough
    to put a household into the neighbouring village when taken as WGS84.
    """
    shapely.prepare(polygons)

    def fits(x: np.ndarray, y: np.ndarray) -> int:
        return int(shapely.covers(polygons, shapely.points(x, y)).sum())

    return OffsetGuess(
        total=len(lon),
        as_given=fits(lon, lat),
        gcj02=fits(*gcj02_to_wgs84(lon, lat)),
        bd09=fits(*bd09_to_wgs84(lon, lat)),
    )
