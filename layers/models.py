"""ORM models of the gongjian data model (briefs/datamodel.md), PostGIS SRID 4326.

The database enforces the rules (codes, hierarchy, geometry validity, value sets) so that no
import or API path can store bad data; each CHECK is named ``ck_<table>_<rule>`` so the error
says which rule was broken. Value-set CHECKs are built from ``geo.vocab``. The schema itself is
created by the Alembic migrations in ``layers/migrations`` (which copy these rules literally);
``tests/test_schema.py`` checks that models and migrations agree.
"""

from __future__ import annotations

import datetime as dt
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
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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


SENSITIVE = {"sensitive": True}  # masked in public outputs (DESIGN.md: --public)


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
    )

    code: Mapped[str] = mapped_column(CHAR(9), primary_key=True)
    county_code: Mapped[str] = mapped_column(CHAR(6), ForeignKey("county.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    seat: Mapped[WKBElement | None] = mapped_column(geometry("POINT"))
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
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
    )

    code: Mapped[str] = mapped_column(CHAR(12), primary_key=True)
    township_code: Mapped[str] = mapped_column(CHAR(9), ForeignKey("township.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(geometry("MULTIPOLYGON"))
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
    """建档立卡 household. head_name, id_number and phone are sensitive (info['sensitive'])."""

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
    head_name: Mapped[str] = mapped_column(Text, info=SENSITIVE)
    id_number: Mapped[str | None] = mapped_column(CHAR(18), unique=True, info=SENSITIVE)
    phone: Mapped[str | None] = mapped_column(Text, info=SENSITIVE)
    members: Mapped[int] = mapped_column(Integer)
    labour_members: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(Text)
    main_cause: Mapped[str] = mapped_column(Text)
    secondary_cause: Mapped[str | None] = mapped_column(Text)
    housing_status: Mapped[str] = mapped_column(Text)
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
    """A member of a household; name and id_number are sensitive."""

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
    name: Mapped[str] = mapped_column(Text, info=SENSITIVE)
    id_number: Mapped[str | None] = mapped_column(CHAR(18), info=SENSITIVE)
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


class Visit(Base):
    """An inspector's visit (督查/抽查, seed 001); geom is where it was recorded."""

    __tablename__ = "visit"
    __table_args__ = (
        not_blank("inspector"),
        in_vocab("visit", "result", vocab.VISIT_RESULT),
        *geom_checks(),
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
