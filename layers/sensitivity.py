"""The sensitivity register in SQL: a field's expression as a viewer or a public output sees it.

The register itself (which field is public, masked or never public) is
:mod:`geo.sensitivity`; this module turns its rules into SQL, so that masked values are
masked in the database and the raw value never leaves it for a caller who may not see it.
The masks follow :mod:`geo.masking` (张*明, 441882********123X, 138****5678).

An output whose text needs a mask of its own registers it here once, e.g. the flags'
descriptions rebuilt without the incomes they quote (``layers.flags``)::

    register_sql_mask("flag_description", "CASE {t}.kind WHEN … END")

>>> viewer_sql("household", "head_name", "h.head_name").startswith("CASE WHEN char_length")
True
>>> viewer_sql("household", "income", "h.income"), viewer_sql("village", "name", "v.name")
('NULL', 'v.name')
>>> viewer_sql("flag", "evidence", "f.evidence")
"(f.evidence - ARRAY['income', 'from', 'to']::text[])"
"""

from __future__ import annotations

from geo.sensitivity import Level, rule

# mask -> SQL template; {c} is the column's expression, {t} the row's alias.
SQL_MASKS: dict[str, str] = {
    "name": (
        "CASE WHEN char_length({c}) <= 1 THEN '*' "
        "WHEN char_length({c}) = 2 THEN left({c}, 1) || '*' "
        "ELSE left({c}, 1) || repeat('*', char_length({c}) - 2) || right({c}, 1) END"
    ),
    "id_number": "left({c}, 6) || repeat('*', greatest(char_length({c}) - 10, 0)) || right({c}, 4)",
    "phone": "left({c}, 3) || '****' || right({c}, 4)",
}


def register_sql_mask(name: str, template: str) -> None:
    """Add the SQL of a mask an output defines for its own text."""
    SQL_MASKS[name] = template


def viewer_sql(output: str, field: str, expr: str, alias: str = "t") -> str:
    """``expr`` (the SQL of ``field`` of ``output``) as viewers and public outputs see it."""
    how = rule(output, field)
    if how.level is Level.NEVER:
        return "NULL"
    if how.keys:
        expr = f"({expr} - ARRAY[{', '.join(repr(k) for k in how.keys)}]::text[])"
    if how.level is Level.MASKED:
        return SQL_MASKS[how.mask or ""].format(c=expr, t=alias)
    return expr


def field_sql(output: str, field: str, expr: str, *, public: bool, alias: str = "t") -> str:
    """``expr`` as stored when ``public`` is false, else as :func:`viewer_sql` shows it."""
    return viewer_sql(output, field, expr, alias) if public else expr
