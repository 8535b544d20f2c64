"""Administrative levels and their codes: district (6 digits), street, community, grid (+3 each)."""

from enum import StrEnum

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
