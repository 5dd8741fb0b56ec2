"""``gongjian county init CODE``: a real county's townships and villages from the official codes.

The county row comes with its real boundary (data/boundaries); townships and villages come
from the bundled 统计用区划代码 2023 (data/divisions) with names, codes and parent links and no
polygon (they get derived ones from the households' points, see
:mod:`layers.derived_boundaries`, or real ones by ``gongjian import``). Idempotent: units
already present with the same name are left as they are, so a second run changes nothing. A
unit already present under another name (the synthetic demo's own codes, say) is refused
before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo import divisions
from geo.divisions import CountyDivisions, Division, UnknownDivision
from geo.paths import GUANGDONG_COUNTIES
from layers.history import set_actor


class CountyInitError(ValueError):
    """The county cannot be set up as asked; nothing was written."""


@dataclass
class CountyInitSummary:
    code: str
    name: str
    county_created: bool = False
    townships: tuple[int, int] = (0, 0)  # (created, already there)
    villages: tuple[int, int] = (0, 0)
    committees: dict[str, int] = field(default_factory=dict)  # 村委会/居委会/其他 in the county

    def describe(self) -> str:
        return (
            f"{self.code} {self.name}: county {'created' if self.county_created else 'present'}, "
            f"townships {self.townships[0]} created ({self.townships[1]} already there), "
            f"villages and communities {self.villages[0]} created "
            f"({self.villages[1]} already there)"
        )


def init_county(
    engine: Engine, code: str, *, actor: str, townships: list[str] | None = None
) -> CountyInitSummary:
    """Create county ``code``'s townships and villages (only ``townships`` when given)."""
    try:
        county = divisions.county_divisions(code)
        chosen = (
            divisions.check_townships(county, townships) if townships else list(county.townships)
        )
    except UnknownDivision as exc:
        raise CountyInitError(str(exc)) from exc
    chosen_codes = {t.code for t in chosen}
    villages = [v for v in county.villages if v.code[:9] in chosen_codes]
    summary = CountyInitSummary(county.code, county.name)
    with engine.begin() as conn:
        set_actor(conn, actor)
        conflicts = _name_conflicts(conn, chosen, villages)
        if conflicts:
            raise CountyInitError(
                f"{county.code} {county.name}: these codes are in the database under other "
                "names (another data set, such as the synthetic demo, uses them); nothing "
                "was written:\n  " + "\n  ".join(conflicts)
            )
        summary.county_created = _ensure_county(conn, county)
        summary.townships = _insert_townships(conn, county, chosen)
        summary.villages = _insert_villages(conn, villages)
        summary.committees = _committees(conn, villages)
    return summary


def _name_conflicts(
    conn: sa.Connection, townships: list[Division], villages: list[Division]
) -> list[str]:
    found = []
    for table, units, name_of in (
        ("township", townships, lambda d: d.name),
        ("village", villages, lambda d: d.short_name),
    ):
        wanted = {d.code: name_of(d) for d in units}
        rows = conn.execute(
            sa.text(f"SELECT code, name FROM {table} WHERE code = ANY(:codes) ORDER BY code"),
            {"codes": list(wanted)},
        ).all()
        found += [
            f"{table} {c}: {n} in the database, {wanted[c]} in {divisions.EDITION}"
            for c, n in rows
            if n != wanted[c]
        ]
    return found


def _ensure_county(conn: sa.Connection, county: CountyDivisions) -> bool:
    if conn.execute(sa.text("SELECT 1 FROM county WHERE code = :c"), {"c": county.code}).first():
        return False
    feature = _boundary_feature(county.code)
    props = feature["properties"]
    conn.execute(
        sa.text("""
        INSERT INTO county (code, name, city, city_code, pairing_city, geom, synthetic)
        VALUES (:code, :name, :city, :city_code, :pairing,
                ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:geom), 4326)), false)"""),
        {
            "code": county.code,
            "name": county.name,
            "city": props["city"],
            "city_code": county.code[:4],
            "pairing": props.get("pairing_city"),
            "geom": json.dumps(feature["geometry"]),
        },
    )
    return True


def _boundary_feature(code: str) -> dict:
    with open(GUANGDONG_COUNTIES, encoding="utf-8") as f:
        for line in f:
            if f'"code":"{code}"' in line:
                return json.loads(line.rstrip().rstrip(","))
    raise CountyInitError(f"no boundary for county {code} in {GUANGDONG_COUNTIES.name}")


def _insert_townships(
    conn: sa.Connection, county: CountyDivisions, townships: list[Division]
) -> tuple[int, int]:
    rows = [{"code": t.code, "county": county.code, "name": t.name} for t in townships]
    created = 0
    for row in rows:
        created += conn.execute(
            sa.text("""INSERT INTO township (code, county_code, name) VALUES (:code, :county,
                :name) ON CONFLICT (code) DO NOTHING"""),
            row,
        ).rowcount
    return created, len(rows) - created


def _insert_villages(conn: sa.Connection, villages: list[Division]) -> tuple[int, int]:
    created = 0
    for v in villages:
        created += conn.execute(
            sa.text("""
            INSERT INTO village (code, township_code, name, official_name, committee)
            VALUES (:code, :township, :name, :official, :committee)
            ON CONFLICT (code) DO NOTHING"""),
            {
                "code": v.code,
                "township": v.code[:9],
                "name": v.short_name,
                "official": v.name,
                "committee": v.committee,
            },
        ).rowcount
    # villages imported earlier under the same name learn their official name and committee
    conn.execute(
        sa.text("""
        UPDATE village SET official_name = d.official, committee = d.committee
        FROM unnest(CAST(:codes AS text[]), CAST(:officials AS text[]),
                    CAST(:committees AS text[])) AS d(code, official, committee)
        WHERE village.code = d.code AND village.official_name IS NULL"""),
        {
            "codes": [v.code for v in villages],
            "officials": [v.name for v in villages],
            "committees": [v.committee for v in villages],
        },
    )
    return created, len(villages) - created


def _committees(conn: sa.Connection, villages: list[Division]) -> dict[str, int]:
    rows = conn.execute(
        sa.text("""SELECT committee, count(*) FROM village WHERE code = ANY(:codes)
                   GROUP BY committee ORDER BY committee"""),
        {"codes": [v.code for v in villages]},
    ).all()
    return {str(c): int(n) for c, n in rows}
