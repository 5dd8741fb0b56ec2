"""Kept for existing callers: the importers live in :mod:`layers.imports` now."""

from __future__ import annotations

from layers.imports import (
    KINDS,
    ImportError_,
    ImportOptions,
    ImportSummary,
    RowErrors,
    import_boundaries,
    import_file,
)

__all__ = [
    "KINDS",
    "ImportError_",
    "ImportOptions",
    "ImportSummary",
    "RowErrors",
    "import_boundaries",
    "import_file",
]
