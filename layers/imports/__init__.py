"""Importing files into the layers: ``gongjian import KIND PATH`` and ``POST /imports``.

>>> sorted(KINDS)[:4]
['boundaries', 'cadres', 'clinics', 'dem']
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from layers.imports.base import (
    ImportError_,
    ImportOptions,
    ImportSummary,
    OutOfScope,
    RowErrors,
    UploadTooLarge,
)
from layers.imports.core import run_import
from layers.imports.dem import import_dem
from layers.imports.kinds import KINDS as _TABLE_KINDS

KINDS: tuple[str, ...] = tuple(sorted([*_TABLE_KINDS, "dem"]))

__all__ = [
    "KINDS",
    "ImportError_",
    "ImportOptions",
    "ImportSummary",
    "OutOfScope",
    "RowErrors",
    "UploadTooLarge",
    "import_boundaries",
    "import_file",
]


def import_file(engine: Engine, kind: str, path: Path, options: ImportOptions) -> ImportSummary:
    """Import ``path`` as ``kind`` (one of KINDS) with ``options``.

    Raises ImportError_ naming file, row and field; nothing is written then.
    """
    if kind == "dem":
        if options.scope is not None:
            raise OutOfScope(f"{Path(path).name}: a DEM covers no one area: import it with the CLI")
        return import_dem(engine, path, options)
    if kind not in _TABLE_KINDS:
        raise ImportError_(f"unknown KIND {kind!r}; expected one of {', '.join(KINDS)}")
    return run_import(engine, _TABLE_KINDS[kind], Path(path), options)


def import_boundaries(
    engine: Engine, path: Path, *, actor: str, dry_run: bool = False, crs: str | None = None
) -> ImportSummary:
    """County boundaries (code, name, city, city_code, pairing_city) into ``county``."""
    options = ImportOptions(actor=actor, dry_run=dry_run, crs=crs)
    return import_file(engine, "boundaries", path, options)
