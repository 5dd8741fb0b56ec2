"""Guangdong's official division codes (统计用区划代码 2023), bundled in data/divisions.

Codes are hierarchical by prefix (4 city, 6 county, 9 township, 12 village), so a unit's
parent is its code cut short. ``county_divisions`` gives what ``gongjian county init`` creates;
a code that is not Guangdong's, or unknown, raises :class:`UnknownDivision` with the nearest
units as suggestions.

>>> county = county_divisions("441882")
>>> county.name, len(county.townships), len(county.villages)
('连州市', 12, 174)
>>> short_name("燕喜社区居委会"), short_name("大塘村委会"), short_name("沙坊村民委员会")
('燕喜社区', '大塘村', '沙坊村')
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
from dataclasses import dataclass
from functools import lru_cache

from geo.paths import DIVISIONS

EDITION = "统计用区划代码 2023"
PROVINCE_PREFIX = "44"
LEVEL_BY_DIGITS = {4: "city", 6: "county", 9: "township", 12: "village"}
LEVEL_NAMES = {"city": "市", "county": "县级单位", "township": "乡镇", "village": "村/社区"}


@dataclass(frozen=True)
class Division:
    code: str
    name: str  # as published, e.g. 大塘村委会
    committee: str  # 村委会 / 居委会 / 其他 for villages, "" otherwise

    @property
    def level(self) -> str:
        return LEVEL_BY_DIGITS[len(self.code)]

    @property
    def short_name(self) -> str:
        return short_name(self.name)


@dataclass(frozen=True)
class CountyDivisions:
    code: str
    name: str
    city: str
    townships: tuple[Division, ...]
    villages: tuple[Division, ...]


class UnknownDivision(ValueError):
    """A code or name that is not one of Guangdong's divisions; the message suggests some."""


@lru_cache(maxsize=1)
def _table() -> dict[str, Division]:
    with gzip.open(DIVISIONS, "rb") as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
        return {r["code"]: Division(r["code"], r["name"], r["committee"]) for r in rows}


def get(code: str) -> Division | None:
    return _table().get(code)


def short_name(name: str) -> str:
    """The name offices use: 大塘村委会 → 大塘村, 燕喜社区居委会 → 燕喜社区; others unchanged."""
    for suffix, keep in (("村民委员会", "村"), ("村委会", "村")):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + keep
    for suffix in ("社区居民委员会", "社区居委会"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + "社区"
    return name


def children(code: str) -> list[Division]:
    """The units one level below ``code``, in code order."""
    digits = {4: 6, 6: 9, 9: 12}.get(len(code))
    if digits is None:
        return []
    table = _table()
    return [d for c, d in table.items() if len(c) == digits and c.startswith(code)]


def county_divisions(code: str) -> CountyDivisions:
    """The county ``code`` (6 digits, or its exact name) with its townships and villages."""
    county = _county(code)
    city = get(county.code[:4])
    townships = tuple(children(county.code))
    villages = tuple(v for t in townships for v in children(t.code))
    return CountyDivisions(
        code=county.code,
        name=county.name,
        city=city.name if city else county.name,
        townships=townships,
        villages=villages,
    )


def _county(code: str) -> Division:
    code = code.strip()
    if not code.isdigit():
        by_name = [d for d in _table().values() if d.level == "county" and d.name == code]
        if len(by_name) == 1:
            return by_name[0]
        raise UnknownDivision(
            f"no county-level unit named {code!r} in Guangdong; {_near_name(code)}"
        )
    if not code.startswith(PROVINCE_PREFIX):
        raise UnknownDivision(
            f"{code} is not in Guangdong (codes start with {PROVINCE_PREFIX}); "
            "the bundled codes cover Guangdong only"
        )
    if len(code) != 6:
        found = get(code)
        if found is not None and len(code) > 6:
            county = get(code[:6])
            raise UnknownDivision(
                f"{code} is the {LEVEL_NAMES[found.level]} {found.name} of county "
                f"{code[:6]} {county.name if county else ''}: give the county's 6-digit code"
            )
        raise UnknownDivision(f"{code}: a county code has 6 digits; {_near_code(code[:6])}")
    found = get(code)
    if found is None:
        raise UnknownDivision(f"no county {code} in Guangdong's {EDITION}; {_near_code(code)}")
    return found


def _near_code(code: str, n: int = 3) -> str:
    counties = [d for d in _table().values() if d.level == "county"]
    if code.isdigit() and code:
        target = int(code.ljust(6, "0")[:6])
        counties.sort(key=lambda d: abs(int(d.code) - target))
    return "nearest: " + ", ".join(f"{d.code} {d.name}" for d in counties[:n])


def _near_name(name: str, n: int = 3) -> str:
    counties = [d for d in _table().values() if d.level == "county"]
    names = {d.name: d for d in counties}
    close = difflib.get_close_matches(name, list(names), n=n, cutoff=0.0)
    return "nearest: " + ", ".join(f"{names[c].code} {c}" for c in close)


def check_townships(county: CountyDivisions, codes: list[str]) -> list[Division]:
    """The townships ``codes`` of ``county``; a code under another county (or none) refused."""
    by_code = {t.code: t for t in county.townships}
    chosen = []
    for code in codes:
        if code in by_code:
            chosen.append(by_code[code])
            continue
        found = get(code)
        if found is not None and found.level == "township":
            owner = get(code[:6])
            raise UnknownDivision(
                f"township {code} {found.name} is in county {code[:6]} "
                f"{owner.name if owner else ''}, not in {county.code} {county.name}"
            )
        near = difflib.get_close_matches(code, list(by_code), n=3, cutoff=0.0)
        raise UnknownDivision(
            f"no township {code} in {county.code} {county.name}; nearest: "
            + ", ".join(f"{c} {by_code[c].name}" for c in near)
        )
    return chosen
