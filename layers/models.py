"""ORM models of the gongjian data model (briefs/datamodel.md), PostGIS SRID 4326.

The database enforces the rules (codes, hierarchy, geometry validity, value sets) so that no
import or API path can store bad data; each CHECK is named ``ck_<table>_<rule>`` so the error
says which rule was broken. Value-set CHECKs are built from ``geo.vocab``. The schema itself is
created by the Alembic migrations in ``layers/migrations`` (which copy these rules literally);
``tests/test_schema.py`` checks that models and migrations agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo import vocab

SRID = 4326
MIN_YEAR, MAX_YEAR = 2000, 2100  # registration, exit and income years

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# (table, column) -> value set, filled by in_vocab(); importers validate against it.
VOCAB_COLUMNS: dict[tuple[str, str], dict[str, str]] = {}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- constraint builders (names get the ck_<table>_ prefix from the naming convention) ---


def geometry(kind: str) -> Geometry:
    """A typed geometry column: PostGIS itself rejects other types and SRIDs."""
    return Geometry(kind, srid=SRID, spatial_index=True)


def geom_checks(column: str = "geom") -> tuple[CheckConstraint, ...]:
    """Valid, non-empty and in degrees; NULL passes (nullability is the column's business).

    PostGIS gives a geometry without SRID the column's SRID, so the degree range is what stops
    projected metres (e.g. EPSG:3857 coordinates with the SRID left off) from being stored.
    """
    return (
        CheckConstraint(f"ST_IsValid({column})", name=f"{column}_valid"),
        CheckConstraint(f"NOT ST_IsEmpty({column})", name=f"{column}_not_empty"),
        CheckConstraint(lonlat_sql(column), name=f"{column}_lonlat"),
    )


def lonlat_sql(column: str) -> str:
    return (
        f"ST_XMin({column}) >= -180 AND ST_XMax({column}) <= 180"
        f" AND ST_YMin({column}) >= -90 AND ST_YMax({column}) <= 90"
    )


def geom_type_check(column: str, *types: str) -> CheckConstraint:
    """For the few columns that allow several geometry types."""
    allowed = ", ".join(f"'{t}'" for t in types)
    return CheckConstraint(f"GeometryType({column}) IN ({allowed})", name=f"{column}_type")


def code_format(column: str, digits: int) -> CheckConstraint:
    return CheckConstraint(rf"{column} ~ '^\d{{{digits}}}$'", name=f"{column}_format")


def code_under(column: str, parent_column: str, digits: int, rule: str) -> CheckConstraint:
    """A child code starts with its parent's code (county 441882 → township 441882100)."""
    return CheckConstraint(f"left({column}, {digits}) = {parent_column}", name=rule)


def id_number_format(column: str = "id_number") -> CheckConstraint:
    """18-character resident ID: 17 digits and a digit or X check character."""
    return CheckConstraint(rf"{column} ~ '^\d{{17}}[\dX]$'", name=f"{column}_format")


def not_blank(column: str) -> CheckConstraint:
    return CheckConstraint(f"btrim({column}) <> ''", name=f"{column}_not_blank")


def year_range(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} BETWEEN {MIN_YEAR} AND {MAX_YEAR}", name=f"{column}_range")


def non_negative(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} >= 0", name=f"{column}_non_negative")


def in_vocab(table: str, column: str, values: Mapping[str, str]) -> CheckConstraint:
    """CHECK column IN (codes of the value set); registers it in VOCAB_COLUMNS."""
    VOCAB_COLUMNS[(table, column)] = dict(values)
    codes = ", ".join("'" + code.replace("'", "''") + "'" for code in values)
    return CheckConstraint(f"{column} IN ({codes})", name=f"{column}_valid")


def synthetic_flag() -> Mapped[bool]:
    """True for generated demo/benchmark rows; maps and exports must say so."""
    return mapped_column(Boolean, nullable=False, server_default=text("false"))


def boundary_derived_flag() -> Mapped[bool]:
    """True when ``geom`` was derived from points (示意界线), not imported."""
    return mapped_column(Boolean, nullable=False, server_default=text("false"))


def derived_has_geom() -> CheckConstraint:
    return CheckConstraint("NOT boundary_derived OR geom IS NOT NULL", name="derived_has_geom")


# --- administrative hierarchy ---


class County(Base):
    __tablename__ = "county"
    __table_args__ = (
        code_format("code", 6),
        code_format("city_code", 4),
        code_under("code", "city_code", 4, "code_under_city"),
        not_blank("name"),
        *geom_checks(),
    )

    code: Mapped[str] = mapped_column(CHAR(6), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    city_code: Mapped[str] = mapped_column(CHAR(4))
    pairing_city: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class Township(Base):
    __tablename__ = "township"
    __table_args__ = (
        code_format("code", 9),
        code_under("code", "county_code", 6, "code_under_county"),
        not_blank("name"),
        *geom_checks(),
        *geom_checks("seat"),
        derived_has_geom(),
    )

    code: Mapped[str] = mapped_column(CHAR(9), primary_key=True)
    county_code: Mapped[str] = mapped_column(CHAR(6), ForeignKey("county.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    seat: Mapped[WKBElement | None] = mapped_column(geometry("POINT"))
    # NULL until a polygon is imported or derived (``gongjian county init`` gives none)
    geom: Mapped[WKBElement | None] = mapped_column(geometry("MULTIPOLYGON"))
    boundary_derived: Mapped[bool] = boundary_derived_flag()
    synthetic: Mapped[bool] = synthetic_flag()


class Village(Base):
    __tablename__ = "village"
    __table_args__ = (
        code_format("code", 12),
        code_under("code", "township_code", 9, "code_under_township"),
        not_blank("name"),
        in_vocab("village", "key_level", vocab.KEY_LEVEL),
        # a key (省定) village is by definition a poor village (seed 001/002)
        CheckConstraint("key_level IS NULL OR is_poor_village", name="key_village_is_poor"),
        non_negative("population"),
        *geom_checks(),
        derived_has_geom(),
        CheckConstraint("committee IN ('村委会', '居委会', '其他')", name="committee_valid"),
    )

    code: Mapped[str] = mapped_column(CHAR(12), primary_key=True)
    township_code: Mapped[str] = mapped_column(CHAR(9), ForeignKey("township.code"), index=True)
    name: Mapped[str] = mapped_column(Text)  # as offices write it: 大塘村, 燕喜社区
    official_name: Mapped[str | None] = mapped_column(Text)  # 统计用区划代码: 大塘村委会
    committee: Mapped[str | None] = mapped_column(Text)  # 村委会 (rural) / 居委会 (urban) / 其他
    geom: Mapped[WKBElement | None] = mapped_column(geometry("MULTIPOLYGON"))
    boundary_derived: Mapped[bool] = boundary_derived_flag()
    is_poor_village: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    key_level: Mapped[str | None] = mapped_column(Text)
    helping_unit: Mapped[str | None] = mapped_column(Text)
    first_secretary: Mapped[str | None] = mapped_column(Text)
    has_standard_clinic: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    piped_water: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    population: Mapped[int | None] = mapped_column(Integer)
    synthetic: Mapped[bool] = synthetic_flag()


class VillageIncome(Base):
    __tablename__ = "village_income"
    __table_args__ = (
        year_range("year"),
        non_negative("per_capita_income"),
        non_negative("collective_income"),
    )

    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    per_capita_income: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    collective_income: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))


class Hamlet(Base):
    """自然村: no national code, so a serial id; names are unique within a village."""

    __tablename__ = "hamlet"
    __table_args__ = (
        UniqueConstraint("village_code", "name"),
        # target of household's (hamlet_id, village_code) FK: a household's hamlet is in its village
        UniqueConstraint("id", "village_code"),
        not_blank("name"),
        non_negative("population"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    village_code: Mapped[str] = mapped_column(CHAR(12), ForeignKey("village.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    population: Mapped[int | None] = mapped_column(Integer)
    road_hardened: Mapped[bool | None] = mapped_column(Boolean)
    piped_water: Mapped[bool | None] = mapped_column(Boolean)
    synthetic: Mapped[bool] = synthetic_flag()


# --- people ---


class Cadre(Base):
    """帮扶责任人 (every scattered household has one, seeds 003/004)."""

    __tablename__ = "cadre"
    __table_args__ = (
        not_blank("name"),
        in_vocab("cadre", "unit_level", vocab.UNIT_LEVEL),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    unit_level: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    township_code: Mapped[str] = mapped_column(CHAR(9), ForeignKey("township.code"), index=True)
    synthetic: Mapped[bool] = synthetic_flag()


class WorkGroup(Base):
    """乡镇帮扶工作组, one per township (seed 004)."""

    __tablename__ = "work_group"
    __table_args__ = (not_blank("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    township_code: Mapped[str] = mapped_column(CHAR(9), ForeignKey("township.code"), unique=True)
    name: Mapped[str] = mapped_column(Text)


class WorkGroupMember(Base):
    __tablename__ = "work_group_member"
    __table_args__ = (
        in_vocab("work_group_member", "role", vocab.WG_ROLE),
        # "可设组长、副组长各1名" (seed 004 §一): at most one leader and one deputy per group
        Index(
            "uq_work_group_member_one_leader_deputy",
            "work_group_id",
            "role",
            unique=True,
            postgresql_where=text("role IN ('leader', 'deputy')"),
        ),
    )

    work_group_id: Mapped[int] = mapped_column(
        ForeignKey("work_group.id", ondelete="CASCADE"), primary_key=True
    )
    cadre_id: Mapped[int] = mapped_column(
        ForeignKey("cadre.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(Text)
    duty: Mapped[str | None] = mapped_column(Text)


class Household(Base):
    """建档立卡 household. Personal fields: see the sensitivity register (geo/sensitivity.py)."""

    __tablename__ = "household"
    __table_args__ = (
        not_blank("household_no"),
        not_blank("head_name"),
        id_number_format(),
        CheckConstraint(r"phone ~ '^\+?[0-9][0-9 -]{4,19}$'", name="phone_format"),
        CheckConstraint("members >= 1", name="members_positive"),
        non_negative("labour_members"),
        CheckConstraint("labour_members <= members", name="labour_not_above_members"),
        in_vocab("household", "category", vocab.CATEGORY),
        in_vocab("household", "main_cause", vocab.CAUSE),
        in_vocab("household", "secondary_cause", vocab.CAUSE),
        CheckConstraint("secondary_cause <> main_cause", name="secondary_cause_differs"),
        in_vocab("household", "housing_status", vocab.HOUSING_STATUS),
        in_vocab("household", "status", vocab.STATUS),
        # poor: not yet exited; exited/returned: the year it exited (seed 002 exit schedule)
        CheckConstraint("(status = 'poor') = (exit_year IS NULL)", name="exit_year_matches_status"),
        year_range("exit_year"),
        year_range("registered_year"),
        CheckConstraint("exit_year >= registered_year", name="exit_after_registration"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("listed_road_km BETWEEN 0 AND 200", name="listed_road_km_range"),
        in_vocab("household", "listed_road_surface", vocab.SURFACE),
        ForeignKeyConstraint(
            ["hamlet_id", "village_code"],
            ["hamlet.id", "hamlet.village_code"],
            name="fk_household_hamlet_in_village",
        ),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_no: Mapped[str] = mapped_column(Text, unique=True)
    village_code: Mapped[str] = mapped_column(CHAR(12), ForeignKey("village.code"), index=True)
    hamlet_id: Mapped[int | None] = mapped_column(Integer, index=True)
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    head_name: Mapped[str] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(CHAR(18), unique=True)
    phone: Mapped[str | None] = mapped_column(Text)
    # facts a list may not state: NULL is unknown (migration 0010), never a guess
    members: Mapped[int | None] = mapped_column(Integer)
    labour_members: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(Text)
    main_cause: Mapped[str | None] = mapped_column(Text)
    secondary_cause: Mapped[str | None] = mapped_column(Text)
    housing_status: Mapped[str | None] = mapped_column(Text)
    # what the list says of road and water (checked against the map: flag list_vs_map)
    listed_road_km: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    listed_road_surface: Mapped[str | None] = mapped_column(Text)
    listed_safe_water: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(Text, server_default=text("'poor'"))
    exit_year: Mapped[int | None] = mapped_column(Integer)
    cadre_id: Mapped[int | None] = mapped_column(ForeignKey("cadre.id"), index=True)
    scattered: Mapped[bool] = mapped_column(Boolean)  # true = outside a key village
    registered_year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    synthetic: Mapped[bool] = synthetic_flag()

    # optimistic locking: a stale ORM update raises StaleDataError instead of overwriting
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class HouseholdIncome(Base):
    __tablename__ = "household_income"
    __table_args__ = (year_range("year"), non_negative("per_capita_income"))

    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    per_capita_income: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class HouseholdMember(Base):
    """A member of a household (personal fields: geo/sensitivity.py)."""

    __tablename__ = "household_member"
    __table_args__ = (
        not_blank("name"),
        id_number_format(),
        in_vocab("household_member", "relation", vocab.RELATION),
        in_vocab("household_member", "sex", vocab.SEX),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
        in_vocab("household_member", "health", vocab.HEALTH),
        in_vocab("household_member", "labour_capacity", vocab.LABOUR_CAPACITY),
        in_vocab("household_member", "schooling", vocab.SCHOOLING),
        # one 户主 per household
        Index(
            "uq_household_member_one_head",
            "household_id",
            unique=True,
            postgresql_where=text("relation = 'head'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(CHAR(18))
    relation: Mapped[str] = mapped_column(Text)
    sex: Mapped[str] = mapped_column(CHAR(1))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    health: Mapped[str | None] = mapped_column(Text)
    labour_capacity: Mapped[str | None] = mapped_column(Text)
    schooling: Mapped[str | None] = mapped_column(Text)


class HelpRecord(Base):
    """帮扶记录簿 entry, co-signed by household head, village and cadre (seeds 001/004)."""

    __tablename__ = "help_record"
    __table_args__ = (
        in_vocab("help_record", "measure", vocab.MEASURE),
        non_negative("amount"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    cadre_id: Mapped[int | None] = mapped_column(ForeignKey("cadre.id"), index=True)
    measure: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    signed_household: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    signed_village: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    signed_cadre: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


VISIT_SOURCES = ("field", "odk")


class VisitPhoto(Base):
    """A visit's photo, stored once by the SHA-256 of its bytes (the phone sends the same)."""

    __tablename__ = "visit_photo"
    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint(
            "media_type IN ('image/jpeg', 'image/png', 'image/webp')", name="media_type_valid"
        ),
        CheckConstraint("size_bytes = octet_length(data)", name="size"),
    )

    sha256: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Visit(Base):
    """An inspector's visit (督查/抽查, seed 001); geom is where it was recorded.

    Visits from the phones (/field, migration 0012) carry the phone's id (``client_id``,
    unique: a replayed sync stores once), the plan, times on the server's clock, the position's
    accuracy and distance from the household, the household version they were checked
    against, the checklist answers, the not-on-site flags and the photo."""

    __tablename__ = "visit"
    __table_args__ = (
        not_blank("inspector"),
        in_vocab("visit", "result", vocab.VISIT_RESULT),
        *geom_checks(),
        CheckConstraint(
            "flags <@ ARRAY[" + ", ".join(f"'{f}'" for f in vocab.VISIT_FLAG) + "]::text[]",
            name="flags_valid",
        ),
        CheckConstraint(
            "source IN (" + ", ".join(f"'{s}'" for s in VISIT_SOURCES) + ")", name="source_valid"
        ),
        CheckConstraint("accuracy_m >= 0", name="accuracy_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    findings: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(geometry("POINT"))
    client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    plan_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("route_plan.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    clock_skew_s: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    household_version: Mapped[int | None] = mapped_column(Integer)
    checks: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    flags: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    photo_sha256: Mapped[str | None] = mapped_column(CHAR(64), ForeignKey("visit_photo.sha256"))
    source: Mapped[str | None] = mapped_column(Text)


# --- infrastructure and environment ---


class River(Base):
    __tablename__ = "river"
    __table_args__ = (
        CheckConstraint('"order" >= 1', name="order_positive"),
        geom_type_check("geom", "LINESTRING", "MULTILINESTRING"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    order: Mapped[int | None] = mapped_column(Integer)  # Strahler stream order
    geom: Mapped[WKBElement] = mapped_column(geometry("GEOMETRY"))
    synthetic: Mapped[bool] = synthetic_flag()


class Road(Base):
    __tablename__ = "road"
    __table_args__ = (
        in_vocab("road", "road_class", vocab.ROAD_CLASS),
        in_vocab("road", "surface", vocab.SURFACE),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    road_class: Mapped[str] = mapped_column(Text)
    surface: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("LINESTRING"))
    synthetic: Mapped[bool] = synthetic_flag()


class Clinic(Base):
    __tablename__ = "clinic"
    __table_args__ = (
        not_blank("name"),
        in_vocab("clinic", "level", vocab.CLINIC_LEVEL),
        CheckConstraint("left(village_code, 9) = township_code", name="village_in_township"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    standard: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    township_code: Mapped[str | None] = mapped_column(
        CHAR(9), ForeignKey("township.code"), index=True
    )
    village_code: Mapped[str | None] = mapped_column(
        CHAR(12), ForeignKey("village.code"), index=True
    )
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


class Water(Base):
    """Water sources (points) and supply areas (polygons)."""

    __tablename__ = "water"
    __table_args__ = (
        not_blank("name"),
        in_vocab("water", "kind", vocab.WATER_KIND),
        geom_type_check("geom", "POINT", "POLYGON", "MULTIPOLYGON"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("GEOMETRY"))
    synthetic: Mapped[bool] = synthetic_flag()


class School(Base):
    __tablename__ = "school"
    __table_args__ = (
        not_blank("name"),
        in_vocab("school", "level", vocab.SCHOOL_LEVEL),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


class HazardZone(Base):
    __tablename__ = "hazard_zone"
    __table_args__ = (
        in_vocab("hazard_zone", "kind", vocab.HAZARD_KIND),
        in_vocab("hazard_zone", "level", vocab.HAZARD_LEVEL),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class KarstZone(Base):
    """石灰岩 (limestone/karst) areas, named in seed 001."""

    __tablename__ = "karst_zone"
    __table_args__ = geom_checks()

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class Raster(Base):
    """A raster on disk (the DEM GeoTIFF), registered with its footprint and checksum."""

    __tablename__ = "raster"
    __table_args__ = (
        not_blank("name"),
        in_vocab("raster", "kind", vocab.RASTER_KIND),
        not_blank("path"),
        CheckConstraint("epsg > 0", name="epsg_positive"),
        CheckConstraint("resolution_m > 0", name="resolution_positive"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),
        *geom_checks("bounds"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    epsg: Mapped[int] = mapped_column(Integer)
    bounds: Mapped[WKBElement] = mapped_column(geometry("POLYGON"))
    resolution_m: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str | None] = mapped_column(Text)
    synthetic: Mapped[bool] = synthetic_flag()


# --- bookkeeping ---


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        not_blank("table_name"),
        in_vocab("audit_log", "action", vocab.AUDIT_ACTION),
        Index("ix_audit_log_table_name_row_id", "table_name", "row_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text)
    row_id: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ApiUser(Base):
    """An API user; scope is the county, township or village code they may see."""

    __tablename__ = "api_user"
    __table_args__ = (
        not_blank("name"),
        in_vocab("api_user", "role", vocab.ROLE),
        CheckConstraint(r"scope ~ '^(\d{6}|\d{9}|\d{12})$'", name="scope_format"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # after this instant the token no longer works (migration 0011); None: until revoked
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Dataset(Base):
    """A loaded dataset (the synthetic demo world), so a re-run can tell it is current."""

    __tablename__ = "dataset"
    __table_args__ = (not_blank("name"),)

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(Integer)
    synthetic: Mapped[bool] = synthetic_flag()
    loaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


# --- coverage analysis (issue 7): results of ``gongjian coverage``, refreshed per township ---

FACILITY_KINDS = ("clinic", "village_clinic", "health_centre", "school")


def computed_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class CoverageRun(Base):
    """One refresh of the coverage tables: scope, policy profile (values) and timings."""

    __tablename__ = "coverage_run"
    __table_args__ = (not_blank("scope"), non_negative("households"), non_negative("uncovered"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(Text)  # township codes refreshed, comma-separated
    profile_name: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text, index=True)  # fingerprint
    profile_values: Mapped[dict[str, Any]] = mapped_column(JSONB)
    households: Mapped[int] = mapped_column(Integer)
    uncovered: Mapped[int] = mapped_column(Integer)
    network: Mapped[dict[str, Any]] = mapped_column(JSONB)
    timings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[dt.datetime] = computed_at()


class CoverageHousehold(Base):
    """Per household: distances, minutes to the nearest facilities (NULL = unreachable, the
    reason in ``unreachable``), piped water, cadre, one flag per failed criterion with the
    value that failed in ``reasons``, and a Chinese ``reason_text`` for maps."""

    __tablename__ = "coverage_household"
    __table_args__ = (
        CheckConstraint(
            " AND ".join(
                f"({c} IS NULL OR {c} >= 0)"
                for c in ("road_m", "hardened_road_m", *(f"{k}_min" for k in FACILITY_KINDS))
            ),
            name="values_non_negative",
        ),
        CheckConstraint("water_source IN ('hamlet', 'supply_area')", name="water_source_valid"),
        CheckConstraint("uncovered = (cardinality(flags) > 0)", name="uncovered_matches_flags"),
        *geom_checks(),
    )

    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), index=True
    )
    hamlet_id: Mapped[int | None] = mapped_column(Integer)
    cadre_id: Mapped[int | None] = mapped_column(Integer)
    road_m: Mapped[float | None] = mapped_column(Float)  # to the nearest road point (walk)
    hardened_road_m: Mapped[float | None] = mapped_column(Float)
    clinic_min: Mapped[float | None] = mapped_column(Float)
    clinic_id: Mapped[int | None] = mapped_column(Integer)
    village_clinic_min: Mapped[float | None] = mapped_column(Float)
    village_clinic_id: Mapped[int | None] = mapped_column(Integer)
    health_centre_min: Mapped[float | None] = mapped_column(Float)
    health_centre_id: Mapped[int | None] = mapped_column(Integer)
    school_min: Mapped[float | None] = mapped_column(Float)
    school_id: Mapped[int | None] = mapped_column(Integer)
    unreachable: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    piped_water: Mapped[bool] = mapped_column(Boolean)
    water_source: Mapped[str | None] = mapped_column(Text)
    flag_road: Mapped[bool] = mapped_column(Boolean)
    flag_hamlet_road: Mapped[bool] = mapped_column(Boolean)
    flag_clinic: Mapped[bool] = mapped_column(Boolean)
    flag_village_clinic: Mapped[bool] = mapped_column(Boolean)
    flag_health_centre: Mapped[bool] = mapped_column(Boolean)
    flag_school: Mapped[bool] = mapped_column(Boolean)
    flag_water: Mapped[bool] = mapped_column(Boolean)
    flag_cadre: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB)
    uncovered: Mapped[bool] = mapped_column(Boolean)
    reason_text: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


class CoverageHamlet(Base):
    """Per 自然村: hardened road (recorded and computed), the seed-002 §11 flag, water."""

    __tablename__ = "coverage_hamlet"
    __table_args__ = (
        non_negative("households"),
        non_negative("uncovered"),
        CheckConstraint(
            "hardening_reason IN ('recorded', 'computed', 'recorded+computed')",
            name="hardening_reason_valid",
        ),
        CheckConstraint(
            "needs_hardening = (hardening_reason IS NOT NULL)", name="reason_when_needed"
        ),
        *geom_checks(),
    )

    hamlet_id: Mapped[int] = mapped_column(
        ForeignKey("hamlet.id", ondelete="CASCADE"), primary_key=True
    )
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    uncovered: Mapped[int] = mapped_column(Integer)
    road_hardened: Mapped[bool | None] = mapped_column(Boolean)  # as recorded
    hardened_road_m: Mapped[float | None] = mapped_column(Float)
    hardened_connected: Mapped[bool] = mapped_column(Boolean)  # computed
    needs_hardening: Mapped[bool] = mapped_column(Boolean)
    hardening_reason: Mapped[str | None] = mapped_column(Text)
    piped_water: Mapped[bool | None] = mapped_column(Boolean)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


class CoverageVillage(Base):
    """Per village: uncovered households by criterion, 200+ hamlets without hardened road,
    standard clinic (seed 002 §9), piped-water shares, cadre workload (seeds 003/004)."""

    __tablename__ = "coverage_village"
    __table_args__ = (
        non_negative("households"),
        CheckConstraint("uncovered BETWEEN 0 AND households", name="uncovered_range"),
        CheckConstraint("piped_share BETWEEN 0 AND 1", name="piped_share_range"),
        CheckConstraint(
            "piped_household_share BETWEEN 0 AND 1", name="piped_household_share_range"
        ),
        *geom_checks(),
    )

    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), primary_key=True
    )
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    name: Mapped[str] = mapped_column(Text)
    is_poor_village: Mapped[bool] = mapped_column(Boolean)
    households: Mapped[int] = mapped_column(Integer)
    uncovered: Mapped[int] = mapped_column(Integer)
    flag_road: Mapped[int] = mapped_column(Integer)
    flag_hamlet_road: Mapped[int] = mapped_column(Integer)
    flag_clinic: Mapped[int] = mapped_column(Integer)
    flag_village_clinic: Mapped[int] = mapped_column(Integer)
    flag_health_centre: Mapped[int] = mapped_column(Integer)
    flag_school: Mapped[int] = mapped_column(Integer)
    flag_water: Mapped[int] = mapped_column(Integer)
    flag_cadre: Mapped[int] = mapped_column(Integer)
    hamlets: Mapped[int] = mapped_column(Integer)
    hamlets_needing_road: Mapped[int] = mapped_column(Integer)
    has_standard_clinic: Mapped[bool] = mapped_column(Boolean)
    clinic_record_mismatch: Mapped[bool] = mapped_column(Boolean)
    lacks_standard_clinic: Mapped[bool] = mapped_column(Boolean)
    piped_share: Mapped[float | None] = mapped_column(Float)
    piped_household_share: Mapped[float | None] = mapped_column(Float)
    low_piped_share: Mapped[bool] = mapped_column(Boolean)
    cadres: Mapped[int] = mapped_column(Integer)
    households_per_cadre: Mapped[float | None] = mapped_column(Float)
    max_cadre_load: Mapped[int | None] = mapped_column(Integer)
    cadres_over_limit: Mapped[int] = mapped_column(Integer)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class CoverageTownship(Base):
    """Per township: the summary ``gongjian coverage`` prints and /analysis/coverage serves."""

    __tablename__ = "coverage_township"
    __table_args__ = (
        non_negative("households"),
        CheckConstraint("uncovered BETWEEN 0 AND households", name="uncovered_range"),
        *geom_checks(),
    )

    township_code: Mapped[str] = mapped_column(
        CHAR(9), ForeignKey("township.code", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer)
    uncovered: Mapped[int] = mapped_column(Integer)
    flag_road: Mapped[int] = mapped_column(Integer)
    flag_hamlet_road: Mapped[int] = mapped_column(Integer)
    flag_clinic: Mapped[int] = mapped_column(Integer)
    flag_village_clinic: Mapped[int] = mapped_column(Integer)
    flag_health_centre: Mapped[int] = mapped_column(Integer)
    flag_school: Mapped[int] = mapped_column(Integer)
    flag_water: Mapped[int] = mapped_column(Integer)
    flag_cadre: Mapped[int] = mapped_column(Integer)
    villages: Mapped[int] = mapped_column(Integer)
    poor_villages: Mapped[int] = mapped_column(Integer)
    poor_villages_without_standard_clinic: Mapped[int] = mapped_column(Integer)
    hamlets_needing_road: Mapped[int] = mapped_column(Integer)
    cadres: Mapped[int] = mapped_column(Integer)
    cadres_over_limit: Mapped[int] = mapped_column(Integer)
    piped_household_share: Mapped[float | None] = mapped_column(Float)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class Isochrone(Base):
    """Catchment of a facility within ``minutes``, traced per township (15/30/60 min)."""

    __tablename__ = "isochrone"
    __table_args__ = (
        UniqueConstraint("township_code", "kind", "facility_id", "minutes"),
        CheckConstraint(
            "kind IN ('clinic', 'village_clinic', 'health_centre', 'school')", name="kind_valid"
        ),
        CheckConstraint("minutes > 0", name="minutes_positive"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    township_code: Mapped[str] = mapped_column(
        CHAR(9), ForeignKey("township.code", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(Text)
    facility_id: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[float] = mapped_column(Float)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


# --- monitoring (issue 10): the dynamic archive (动态档案, seed 000) and the flags ---

# Household fields kept in household_history; ``incomes`` is the card's {year: per-capita}.
HISTORY_FIELDS = (
    "village_code", "hamlet_id", "geom", "members", "labour_members", "category",
    "housing_status", "status", "exit_year", "cadre_id", "incomes",
)  # fmt: skip
HISTORY_ACTIONS = ("baseline", "insert", "update", "income", "backfill")
FLAG_KIND_CODES = (
    "exited_low_income", "exited_sanbaozhang", "exited_dangerous_house", "no_help_record",
    "cadre_overloaded", "cadre_idle", "outside_village", "in_river", "shared_point", "moved",
    "duplicate_id_number", "income_jump", "status_flip_flop", "list_vs_map",
)  # fmt: skip


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({codes})", name=f"{column}_valid")


class HouseholdHistory(Base):
    """One version of a household: its state from ``valid_from`` until the next version.

    Written by database triggers on household and household_income (migration 0005), so
    every writer is covered; the effective date is ``SET LOCAL gongjian.effective_date`` when
    given, else the day of the change. ``changed`` names the fields this version changed.
    """

    __tablename__ = "household_history"
    __table_args__ = (
        _one_of("action", HISTORY_ACTIONS),
        CheckConstraint("cardinality(changed) > 0", name="changed_not_empty"),
        Index(
            "ix_household_history_household_id_valid_from_id", "household_id", "valid_from", "id"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    # no index of its own: "as of" goes by household (the composite index), and a valid_from
    # index tempts the planner into scanning by date when its statistics are stale
    valid_from: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    action: Mapped[str] = mapped_column(Text)
    changed: Mapped[list[str]] = mapped_column(ARRAY(Text))
    source: Mapped[str | None] = mapped_column(Text)
    village_code: Mapped[str] = mapped_column(CHAR(12), index=True)
    hamlet_id: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    members: Mapped[int | None] = mapped_column(Integer)
    labour_members: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(Text)
    housing_status: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    exit_year: Mapped[int | None] = mapped_column(Integer)
    cadre_id: Mapped[int | None] = mapped_column(Integer)
    incomes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    income: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    income_year: Mapped[int | None] = mapped_column(Integer)


class Flag(Base):
    """A monitoring flag (``gongjian flags``): a household or cadre, the rule, the evidence."""

    __tablename__ = "flag"
    __table_args__ = (
        _one_of("kind", FLAG_KIND_CODES),
        CheckConstraint("household_id IS NOT NULL OR cadre_id IS NOT NULL", name="has_subject"),
        not_blank("description"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, index=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), index=True
    )
    cadre_id: Mapped[int | None] = mapped_column(
        ForeignKey("cadre.id", ondelete="CASCADE"), index=True
    )
    village_code: Mapped[str | None] = mapped_column(CHAR(12))
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    rule: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


# --- field routes (issue 9): plans of ``gongjian route plan`` and ``POST /routes`` ---

ROUTE_STRATEGIES = ("random", "stratified", "risk", "list")
ROUTE_STOP_STATUSES = ("planned", "unassigned")
ROUTE_REASONS = ("off_network", "no_road_link", "too_far", "window", "no_room")
# 两不愁三保障 (seeds 002/003) ticked on the route sheet, one column each
ROUTE_CHECKS = ("food", "clothing", "education", "medical", "housing")


class RoutePlan(Base):
    """A plan of inspectors' field days over a township (or one village): how the households
    were chosen (strategy, sample, seed, as-of date), the options and the totals."""

    __tablename__ = "route_plan"
    __table_args__ = (
        CheckConstraint(r"area_code ~ '^(\d{9}|\d{12})$'", name="area_code_format"),
        CheckConstraint("left(area_code, 9) = township_code", name="area_in_township"),
        _one_of("strategy", ROUTE_STRATEGIES),
        not_blank("title"),
        not_blank("created_by"),
        CheckConstraint("inspectors >= 1", name="inspectors_positive"),
        CheckConstraint("days >= 1", name="days_positive"),
        CheckConstraint("hours > 0 AND hours <= 24", name="hours_range"),
        non_negative("service_min"),
        CheckConstraint("planned + unassigned = households", name="counts_add_up"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    township_code: Mapped[str] = mapped_column(
        CHAR(9), ForeignKey("township.code", ondelete="CASCADE"), index=True
    )
    area_code: Mapped[str] = mapped_column(Text, index=True)  # township or village planned
    title: Mapped[str] = mapped_column(Text)
    strategy: Mapped[str] = mapped_column(Text)
    sample_size: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[dt.date] = mapped_column(Date)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    inspectors: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    hours: Mapped[float] = mapped_column(Float)
    day_start_min: Mapped[float] = mapped_column(Float)
    service_min: Mapped[float] = mapped_column(Float)
    households: Mapped[int] = mapped_column(Integer)
    planned: Mapped[int] = mapped_column(Integer)
    unassigned: Mapped[int] = mapped_column(Integer)
    travel_min: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    solver: Mapped[dict[str, Any]] = mapped_column(JSONB)
    profile: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    synthetic: Mapped[bool] = synthetic_flag()


class RouteDay(Base):
    """One inspector-day of a plan: times, totals and the path along the roads."""

    __tablename__ = "route_day"
    __table_args__ = (
        UniqueConstraint("plan_id", "inspector", "day"),
        CheckConstraint("inspector >= 1", name="inspector_positive"),
        CheckConstraint("day >= 1", name="day_positive"),
        not_blank("inspector_name"),
        non_negative("stops"),
        non_negative("travel_min"),
        non_negative("distance_m"),
        CheckConstraint("finish_min >= start_min", name="finish_after_start"),
        *geom_checks(),
        *geom_checks("start_geom"),
        *geom_checks("end_geom"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("route_plan.id", ondelete="CASCADE"), index=True
    )
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    inspector: Mapped[int] = mapped_column(Integer)
    inspector_name: Mapped[str] = mapped_column(Text)
    day: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date | None] = mapped_column(Date)
    start_min: Mapped[float] = mapped_column(Float)
    finish_min: Mapped[float] = mapped_column(Float)
    stops: Mapped[int] = mapped_column(Integer)
    travel_min: Mapped[float] = mapped_column(Float)
    service_min: Mapped[float] = mapped_column(Float)
    wait_min: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    start_name: Mapped[str] = mapped_column(Text)
    end_name: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(geometry("MULTILINESTRING"))
    start_geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=SRID, spatial_index=False)
    )
    end_geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    synthetic: Mapped[bool] = synthetic_flag()


class RouteStop(Base):
    """A household of a plan: its place in a day (or why it could not be fitted), and the
    visit's result with the 两不愁三保障 checklist once recorded (NULL: not ticked)."""

    __tablename__ = "route_stop"
    __table_args__ = (
        UniqueConstraint("plan_id", "household_id"),
        _one_of("status", ROUTE_STOP_STATUSES),
        _one_of("reason", ROUTE_REASONS),
        _one_of("result", tuple(vocab.VISIT_RESULT)),
        CheckConstraint(
            "(status = 'planned') = (day_id IS NOT NULL AND seq IS NOT NULL)",
            name="planned_has_day",
        ),
        CheckConstraint("(status = 'unassigned') = (reason IS NOT NULL)", name="reason_when_left"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        non_negative("service_min"),
        CheckConstraint("priority BETWEEN 0 AND 100", name="priority_range"),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("route_plan.id", ondelete="CASCADE"), index=True
    )
    day_id: Mapped[int | None] = mapped_column(
        ForeignKey("route_day.id", ondelete="CASCADE"), index=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), index=True
    )
    village_code: Mapped[str] = mapped_column(CHAR(12), index=True)
    status: Mapped[str] = mapped_column(Text)
    seq: Mapped[int | None] = mapped_column(Integer)
    arrival_min: Mapped[float | None] = mapped_column(Float)
    begin_min: Mapped[float | None] = mapped_column(Float)
    departure_min: Mapped[float | None] = mapped_column(Float)
    wait_min: Mapped[float | None] = mapped_column(Float)
    leg_min: Mapped[float | None] = mapped_column(Float)
    leg_m: Mapped[float | None] = mapped_column(Float)
    service_min: Mapped[float] = mapped_column(Float)
    must_visit: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    window_start_min: Mapped[float | None] = mapped_column(Float)
    window_end_min: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[float] = mapped_column(Float, server_default=text("0"))
    reason: Mapped[str | None] = mapped_column(Text)
    reason_text: Mapped[str | None] = mapped_column(Text)
    risk_score: Mapped[float | None] = mapped_column(Float)
    risk_reasons: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    result: Mapped[str | None] = mapped_column(Text)
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visit.id", ondelete="SET NULL"), index=True
    )
    visit_date: Mapped[dt.date | None] = mapped_column(Date)
    check_food: Mapped[bool | None] = mapped_column(Boolean)
    check_clothing: Mapped[bool | None] = mapped_column(Boolean)
    check_education: Mapped[bool | None] = mapped_column(Boolean)
    check_medical: Mapped[bool | None] = mapped_column(Boolean)
    check_housing: Mapped[bool | None] = mapped_column(Boolean)
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


# --- relocation analysis (issue 8): results of ``gongjian relocation``, refreshed per township ---

RELOCATION_CRITERIA = (
    "hazard", "flood", "slope", "elevation", "relief", "karst_water", "road", "clinic", "water",
)  # fmt: skip
RELOCATION_KINDS = ("whole", "scattered")


def _relocation_set(column: str, values: tuple[str, ...]) -> CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({codes})", name=f"{column}_valid")


def _relocation_checks() -> tuple[CheckConstraint, ...]:
    """Shared by the household and hamlet rows: known criteria, sane values."""
    criteria = ", ".join(f"'{c}'" for c in RELOCATION_CRITERIA)
    return (
        CheckConstraint(f"criteria <@ ARRAY[{criteria}]::text[]", name="criteria_valid"),
        CheckConstraint("score >= 0", name="score_non_negative"),
        CheckConstraint("slope_deg BETWEEN 0 AND 90", name="slope_range"),
        CheckConstraint("terrain_note IN ('no terrain data')", name="terrain_note_valid"),
        CheckConstraint(
            "(hardened_road_m IS NULL OR hardened_road_m >= 0) "
            "AND (clinic_min IS NULL OR clinic_min >= 0)",
            name="access_non_negative",
        ),
        _relocation_set("relocation", RELOCATION_KINDS),
    )


class RelocationRun(Base):
    """One refresh of the relocation tables: scope, policy profile (values) and timings."""

    __tablename__ = "relocation_run"
    __table_args__ = (
        not_blank("scope"),
        non_negative("households"),
        non_negative("candidates"),
        non_negative("groups"),
        non_negative("sites"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(Text)  # township codes refreshed, comma-separated
    profile_name: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text, index=True)  # fingerprint
    profile_values: Mapped[dict[str, Any]] = mapped_column(JSONB)
    households: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer)
    groups: Mapped[int] = mapped_column(Integer)
    sites: Mapped[int] = mapped_column(Integer)
    timings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[dt.datetime] = computed_at()


class RelocationHousehold(Base):
    """Per assessed household: terrain, hazard and access values, the criteria met with
    their values (``reasons``), hard/score, and whether it is a candidate (``candidate``:
    whole-hamlet or scattered relocation, its group, the site assigned and the minutes)."""

    __tablename__ = "relocation_household"
    __table_args__ = (
        *_relocation_checks(),
        _relocation_set("basis", ("criteria", "whole_hamlet")),
        CheckConstraint("candidate = (relocation IS NOT NULL)", name="candidate_has_kind"),
        CheckConstraint("NOT (candidate AND relocated)", name="relocated_not_candidate"),
        CheckConstraint("site_minutes IS NULL OR site_minutes >= 0", name="site_minutes_range"),
        *geom_checks(),
    )

    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), index=True
    )
    hamlet_id: Mapped[int | None] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer)
    elevation_m: Mapped[float | None] = mapped_column(Float)
    slope_deg: Mapped[float | None] = mapped_column(Float)
    slope_mean_deg: Mapped[float | None] = mapped_column(Float)
    relief_m: Mapped[float | None] = mapped_column(Float)
    terrain_note: Mapped[str | None] = mapped_column(Text)
    hazard_kind: Mapped[str | None] = mapped_column(Text)
    hazard_level: Mapped[str | None] = mapped_column(Text)
    flood_level: Mapped[str | None] = mapped_column(Text)
    karst: Mapped[bool] = mapped_column(Boolean)
    piped_water: Mapped[bool] = mapped_column(Boolean)
    hardened_road_m: Mapped[float | None] = mapped_column(Float)
    clinic_min: Mapped[float | None] = mapped_column(Float)
    health_centre_min: Mapped[float | None] = mapped_column(Float)
    school_min: Mapped[float | None] = mapped_column(Float)
    criteria: Mapped[list[str]] = mapped_column(ARRAY(Text))
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hard: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    eligible: Mapped[bool] = mapped_column(Boolean)  # meets the criteria itself
    relocated: Mapped[bool] = mapped_column(Boolean)  # housing_status 已搬迁
    candidate: Mapped[bool] = mapped_column(Boolean)
    relocation: Mapped[str | None] = mapped_column(Text)  # whole | scattered
    basis: Mapped[str | None] = mapped_column(Text)  # criteria | whole_hamlet
    group_key: Mapped[str | None] = mapped_column(Text, index=True)
    site_key: Mapped[str | None] = mapped_column(Text)
    site_minutes: Mapped[float | None] = mapped_column(Float)
    reason_text: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


class RelocationHamlet(Base):
    """Per 自然村 as a place: terrain at its point, hazards, its households' median access,
    its recorded road and water, the criteria met, and the verdict for its households."""

    __tablename__ = "relocation_hamlet"
    __table_args__ = (
        *_relocation_checks(),
        non_negative("households"),
        CheckConstraint(
            "eligible_households BETWEEN 0 AND households", name="eligible_households_range"
        ),
        CheckConstraint("share BETWEEN 0 AND 1", name="share_range"),
        *geom_checks(),
    )

    hamlet_id: Mapped[int] = mapped_column(
        ForeignKey("hamlet.id", ondelete="CASCADE"), primary_key=True
    )
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    elevation_m: Mapped[float | None] = mapped_column(Float)
    slope_deg: Mapped[float | None] = mapped_column(Float)
    slope_mean_deg: Mapped[float | None] = mapped_column(Float)
    relief_m: Mapped[float | None] = mapped_column(Float)
    terrain_note: Mapped[str | None] = mapped_column(Text)
    hazard_kind: Mapped[str | None] = mapped_column(Text)
    hazard_level: Mapped[str | None] = mapped_column(Text)
    hazard_share: Mapped[float] = mapped_column(Float)
    flood_level: Mapped[str | None] = mapped_column(Text)
    karst: Mapped[bool] = mapped_column(Boolean)
    piped_water: Mapped[bool] = mapped_column(Boolean)
    road_hardened: Mapped[bool | None] = mapped_column(Boolean)  # as recorded
    hardened_road_m: Mapped[float | None] = mapped_column(Float)
    clinic_min: Mapped[float | None] = mapped_column(Float)  # median of its households
    criteria: Mapped[list[str]] = mapped_column(ARRAY(Text))
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hard: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    candidate: Mapped[bool] = mapped_column(Boolean)  # the place lacks living conditions
    eligible_households: Mapped[int] = mapped_column(Integer)
    share: Mapped[float | None] = mapped_column(Float)
    relocation: Mapped[str | None] = mapped_column(Text)  # whole | scattered
    reason_text: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    synthetic: Mapped[bool] = synthetic_flag()


class RelocationGroup(Base):
    """A relocating group — a hamlet, a DBSCAN cluster or a single home — whole (整体搬迁)
    or scattered (插花搬迁), with its outline for the map and the site it is given."""

    __tablename__ = "relocation_group"
    __table_args__ = (
        _relocation_set("basis", ("hamlet", "cluster", "single")),
        _relocation_set("relocation", RELOCATION_KINDS),
        _relocation_set("whole_by", ("place", "share")),
        CheckConstraint("(relocation = 'whole') = (whole_by IS NOT NULL)", name="whole_has_why"),
        CheckConstraint("candidates BETWEEN 1 AND households", name="candidates_range"),
        CheckConstraint("eligible BETWEEN 0 AND households", name="eligible_range"),
        non_negative("people"),
        CheckConstraint("share BETWEEN 0 AND 1", name="share_range"),
        *geom_checks(),
    )

    group_key: Mapped[str] = mapped_column(Text, primary_key=True)
    township_code: Mapped[str] = mapped_column(CHAR(9), index=True)
    village_code: Mapped[str] = mapped_column(
        CHAR(12), ForeignKey("village.code", ondelete="CASCADE"), index=True
    )
    hamlet_id: Mapped[int | None] = mapped_column(ForeignKey("hamlet.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(Text)
    relocation: Mapped[str] = mapped_column(Text)
    whole_by: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer)
    eligible: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    criteria_counts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason_text: Mapped[str] = mapped_column(Text)
    site_key: Mapped[str | None] = mapped_column(Text)
    site_minutes: Mapped[float | None] = mapped_column(Float)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class RelocationSite(Base):
    """A ranked resettlement site (安置点) of a township: its suitable land (``geom``), its
    point, capacity, access, and the travel time from the township's candidates."""

    __tablename__ = "relocation_site"
    __table_args__ = (
        UniqueConstraint("township_code", "rank"),
        CheckConstraint("rank >= 1", name="rank_positive"),
        CheckConstraint("area_ha > 0", name="area_positive"),
        non_negative("capacity_households"),
        non_negative("assigned_households"),
        non_negative("assigned_people"),
        CheckConstraint("slope_mean_deg BETWEEN 0 AND 90", name="slope_range"),
        CheckConstraint(
            "health_centre_min >= 0 AND school_min >= 0 AND hardened_road_m >= 0",
            name="access_non_negative",
        ),
        *geom_checks(),
        *geom_checks("point"),
    )

    site_key: Mapped[str] = mapped_column(Text, primary_key=True)
    township_code: Mapped[str] = mapped_column(
        CHAR(9), ForeignKey("township.code", ondelete="CASCADE"), index=True
    )
    rank: Mapped[int] = mapped_column(Integer)
    cells: Mapped[int] = mapped_column(Integer)
    area_ha: Mapped[float] = mapped_column(Float)
    capacity_households: Mapped[int] = mapped_column(Integer)
    slope_mean_deg: Mapped[float] = mapped_column(Float)
    elevation_m: Mapped[float] = mapped_column(Float)
    hardened_road_m: Mapped[float] = mapped_column(Float)
    health_centre_min: Mapped[float] = mapped_column(Float)
    health_centre_id: Mapped[int | None] = mapped_column(Integer)
    school_min: Mapped[float] = mapped_column(Float)
    school_id: Mapped[int | None] = mapped_column(Integer)
    water_nearby: Mapped[bool] = mapped_column(Boolean)
    from_candidates_mean_min: Mapped[float | None] = mapped_column(Float)
    from_candidates_max_min: Mapped[float | None] = mapped_column(Float)
    reachable_candidates: Mapped[int] = mapped_column(Integer)
    score_min: Mapped[float] = mapped_column(Float)
    assigned_households: Mapped[int] = mapped_column(Integer)
    assigned_people: Mapped[int] = mapped_column(Integer)
    within_capacity: Mapped[bool] = mapped_column(Boolean)
    reason_text: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = computed_at()
    point: Mapped[WKBElement] = mapped_column(geometry("POINT"))
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
    synthetic: Mapped[bool] = synthetic_flag()


class Sector(Base):
    """A work-group member's sector (分组包片): proposed by ``gongjian sectors`` or accepted
    (then the households are paired with the member)."""

    __tablename__ = "sector"
    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'accepted')", name="status_valid"),
        non_negative("households"),
        non_negative("hamlets"),
        non_negative("travel_min"),
        *geom_checks(),
        UniqueConstraint("township_code", "cadre_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    township_code: Mapped[str] = mapped_column(
        CHAR(9), ForeignKey("township.code", ondelete="CASCADE"), index=True
    )
    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadre.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer)
    hamlets: Mapped[int] = mapped_column(Integer)
    contiguous: Mapped[bool] = mapped_column(Boolean)
    travel_min: Mapped[float] = mapped_column(Float)
    household_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    hamlet_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    computed_at: Mapped[dt.datetime] = computed_at()
    geom: Mapped[WKBElement | None] = mapped_column(geometry("MULTIPOLYGON"))


# --- what-if scenarios (issue 19): in their own module, registered on Base here -------------

from layers import scenario_models  # noqa: E402, F401
