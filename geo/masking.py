"""Masking personal data for public outputs, and neutralising spreadsheet formulas.

Public wall maps and ``gongjian export --public`` must not show who the poor households are
(DESIGN.md): names keep their first and last character (张*明), ID numbers their first 6 (the
region) and last 4 characters, phones their first 3 and last 4 digits. Pure Python.

>>> mask_name("张三明"), mask_id_number("44188219900101123X"), mask_phone("13812345678")
('张*明', '441882********123X', '138****5678')
>>> neutralise_formula("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def mask_name(name: object) -> object:
    """张三明 → 张*明, 张三 → 张*, 欧阳小明 → 欧**明; blanks pass through.

    >>> mask_name("欧阳小明"), mask_name("张三"), mask_name("王"), mask_name(None)
    ('欧**明', '张*', '*', None)
    """
    if not isinstance(name, str) or not name.strip():
        return name
    text = name.strip()
    if len(text) == 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_id_number(id_number: object) -> object:
    """Keep the region (first 6) and the last 4 characters; the birth date is hidden.

    >>> mask_id_number("11010519491231002X")
    '110105********002X'
    >>> mask_id_number("12345")
    '*****'
    """
    if not isinstance(id_number, str) or not id_number.strip():
        return id_number
    text = id_number.strip()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_phone(phone: object) -> object:
    """Hide all digits but the first 3 and the last 4 (separators are kept).

    >>> mask_phone("0763-6600123"), mask_phone("+86 138 1234 5678")
    ('076*-***0123', '+86 138 **** 5678')
    """
    if not isinstance(phone, str) or not phone.strip():
        return phone
    country = len(phone) - len(phone.lstrip()) + 3 if phone.lstrip().startswith("+86") else 0
    digits = [i for i, c in enumerate(phone) if c.isdigit() and i >= country]
    keep = set(digits[:3]) | set(digits[-4:]) if len(digits) > 7 else set()
    return "".join("*" if i in digits and i not in keep else c for i, c in enumerate(phone))


MASKS = {"name": mask_name, "id_number": mask_id_number, "phone": mask_phone}


def mask_column(series: pd.Series, how: str) -> pd.Series:
    """Apply the mask ``how`` (name, id_number or phone) to every cell of a column."""
    return series.map(MASKS[how], na_action="ignore")


def neutralise_formula(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula (= + - @ tab CR) with a quote.

    Numbers are left alone (a negative amount is no formula); the importer strips the quote
    again (geo.columns.clean_text), so exported files round-trip.

    >>> neutralise_formula("+8613800000000"), neutralise_formula(-5), neutralise_formula("张三")
    ("'+8613800000000", -5, '张三')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
