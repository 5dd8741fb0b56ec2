"""ORM models of what-if scenarios (``gongjian scenario``): proposed changes held apart from
the real layers, which they never touch. Registered on ``layers.models.Base`` (imported at the
end of that module), built by migration 0013."""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import WKBElement
from sqlalchemy import CHAR, CheckConstraint, DateTime, ForeignKey, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from geo import vocab
from layers.models import Base, geom_checks, geometry, not_blank

CHANGE_KINDS = ("road", "harden", "clinic", "water", "school")
FACILITY_CHANGES = ("clinic", "water", "school")


def _one_of(column: str, values) -> CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({codes})", name=f"{column}_valid")


class Scenario(Base):
    """A named set of proposed changes for one township."""

    __tablename__ = "scenario"
    __table_args__ = (not_blank("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    township_code: Mapped[str] = mapped_column(
        CHAR(9), ForeignKey("township.code", ondelete="CASCADE"), index=True
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ScenarioChange(Base):
    """One proposed change: a new road (line), a road to harden (its id), or a new clinic,
    water point or school (point)."""

    __tablename__ = "scenario_change"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in CHANGE_KINDS) + ")", name="kind_valid"
        ),
        CheckConstraint("(kind = 'harden') = (road_id IS NOT NULL)", name="road_id_iff_harden"),
        CheckConstraint("(kind = 'harden') = (geom IS NULL)", name="geom_unless_harden"),
        CheckConstraint(
            "kind <> 'road' OR (GeometryType(geom) = 'LINESTRING' AND road_class IS NOT NULL "
            "AND surface IS NOT NULL)",
            name="road_is_line",
        ),
        CheckConstraint(
            "kind NOT IN ('clinic', 'water', 'school') OR GeometryType(geom) = 'POINT'",
            name="facility_is_point",
        ),
        _one_of("road_class", vocab.ROAD_CLASS),  # NULL passes: only roads have them
        _one_of("surface", vocab.SURFACE),
        *geom_checks(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("scenario.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(Text)
    road_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("road.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(Text)
    road_class: Mapped[str | None] = mapped_column(Text)
    surface: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(geometry("GEOMETRY"))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
