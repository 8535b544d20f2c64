"""Tables of the geography: boundary generations and the areas in each."""

from datetime import datetime
from enum import StrEnum

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base

AREA_CODE = r"^\d{6}(\d{3}){0,3}$"  # district, street, community or grid code


class Level(StrEnum):
    """Administrative levels, from the top."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"

    @property
    def code_length(self) -> int:
        """Digits of a code at this level: 6 + 3 per level below the district."""
        return 6 + 3 * list(Level).index(self)

    @property
    def parent(self) -> "Level | None":
        """The level above, or None for a district."""
        index = list(Level).index(self)
        return list(Level)[index - 1] if index else None

    @property
    def child(self) -> "Level | None":
        """The level below, or None for a grid."""
        index = list(Level).index(self)
        return list(Level)[index + 1] if index + 1 < len(Level) else None


class BoundaryGeneration(Base):
    """One complete boundary set; exactly one is active at a time."""

    __tablename__ = "boundary_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))

    __table_args__ = (
        Index("uq_boundary_generation_one_active", "active", unique=True, postgresql_where=text("active")),
    )


class Area(Base):
    """A district, street, community or grid of one generation."""

    __tablename__ = "area"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("boundary_generation.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(15))
    level: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(String(15))
    households: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[object] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))

    __table_args__ = (
        UniqueConstraint("generation_id", "code"),
        CheckConstraint("level IN ('district', 'street', 'community', 'grid')", name="level"),
        Index("ix_area_geom", "geom", postgresql_using="gist"),
        Index("ix_area_generation_parent", "generation_id", "parent_code"),
        Index("ix_area_generation_level", "generation_id", "level"),
    )
