"""Typed series from a file's mapped columns, for the KINDs' parsers (layers/imports/kinds.py).

Each helper parses one field with a geo.validate parser and adds the problems to the import's
context (file, row, field); a field the file lacks is None and is not written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo import validate as v
from layers.imports.core import Context


def rows(ctx: Context) -> np.ndarray:
    n = len(ctx.fields)
    if ctx.source.row_numbers is None:
        return np.arange(n) + 2
    return ctx.source.row_numbers


def frame(ctx: Context, **columns: pd.Series | np.ndarray | None) -> pd.DataFrame:
    """The staged columns, leaving out fields the file does not have (None)."""
    present = {
        k: (c.to_numpy(dtype=object) if isinstance(c, pd.Series) else c)
        for k, c in columns.items()
        if c is not None
    }
    return pd.DataFrame(present, index=pd.RangeIndex(len(ctx.fields)))


def text(ctx: Context, name: str, required: bool = False) -> pd.Series | None:
    values = ctx.parse(name, v.parse_text)
    if required:
        ctx.blank(values, name)
    return values


def vocab(ctx: Context, name: str, vocab_name: str, required: bool = False) -> pd.Series | None:
    values = ctx.parse(name, v.parse_vocab, vocab_name)
    if required:
        ctx.blank(only_blank(ctx, name, values), name)
    return values


def only_blank(ctx: Context, name: str, values: pd.Series | None) -> pd.Series | None:
    """Values that are missing because the cell was blank (not because they were invalid)."""
    if values is None:
        return None
    bad = {p for p, f, _ in ctx.errors.problems if f == ctx.label(name)}
    keep = values.copy()
    keep.iloc[sorted(bad)] = "invalid"
    return keep


def unique(ctx: Context, values: pd.Series | None, name: str) -> None:
    if values is not None:
        ctx.add(v.duplicates(values, name, rows(ctx)))


def code(ctx: Context, name: str, digits: int, required: bool = False) -> pd.Series | None:
    values = ctx.parse(name, v.parse_code, digits)
    if required:
        ctx.blank(only_blank(ctx, name, values), name)
    return values


def ref_code(values: pd.Series | None, digits: int) -> pd.Series | None:
    """The values that already are codes (the rest are names the database resolves)."""
    if values is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    is_code = pc.fill_null(pc.match_substring_regex(texts, rf"^\d{{{digits}}}$"), False)
    return values.where(np.asarray(is_code.to_numpy(zero_copy_only=False), dtype=bool), None)


def empty(ctx: Context) -> pd.Series:
    return pd.Series([None] * len(ctx.fields), dtype=object)
