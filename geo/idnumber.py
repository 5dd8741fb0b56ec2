"""Chinese resident identity numbers (公民身份号码, GB 11643-1999).

Layout of the 18 characters::

    441882 19900101 123 0
    │      │        │   └ check character, ISO 7064 MOD 11-2 over the first 17 digits
    │      │        └ sequence; odd for men, even for women
    │      └ birth date YYYYMMDD
    └ region (county) code where the number was first issued

Scalar helpers (``check_digit``, ``is_valid``, ``make``, ``explain_invalid``) serve imports and
forms; ``make_many`` builds hundreds of thousands at once for the synthetic demo.

>>> is_valid("11010519491231002X")  # the example printed in GB 11643-1999
True
>>> make("441882", date(1990, 1, 1), 123)
'441882199001011230'
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np

# ISO 7064 MOD 11-2: weight of position i (1-based from the left of 18) is 2**(18-i) mod 11.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)
EARLIEST_BIRTH_YEAR = 1850  # the standard's own second example is born in 1880

# Province-level prefixes in GB/T 2260 (first two digits of the region code).
PROVINCE_PREFIXES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
     "65", "71", "81", "82"}
)  # fmt: skip

_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")


def check_digit(first17: str) -> str:
    """The check character for the first 17 digits of an ID number.

    >>> check_digit("11010519491231002")
    'X'
    >>> check_digit("44052418800101001")
    '4'
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def birth_date(id_number: str) -> date | None:
    """The birth date encoded in an 18-character number, or None if it is no real date.

    >>> birth_date("11010519491231002X")
    datetime.date(1949, 12, 31)
    """
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def is_valid(id_number: object, today: date | None = None) -> bool:
    """True for a well-formed 18-character number with the right check character.

    Requires 17 ASCII digits then a digit or upper-case ``X``, a known province prefix, a real
    birth date between 1850 and ``today`` (default: the current date) and a matching check
    character.

    >>> is_valid("11010519491231002X")
    True
    >>> is_valid("11010519491231002x")  # lower-case x is not accepted
    False
    >>> is_valid("110105194912310021")  # wrong check character
    False
    """
    return isinstance(id_number, str) and explain_invalid(id_number, today) is None


def explain_invalid(id_number: object, today: date | None = None) -> str | None:
    """None when ``id_number`` is valid, otherwise a message saying what is wrong with it.

    Recognises the usual spreadsheet damage: a number Excel turned into scientific notation
    (``4.41882E+17``) or rounded to 15 significant digits (``441882199001011000``), a trailing
    ``.0`` from a float column, a lower-case ``x``, surrounding spaces, and the old 15-digit
    first-generation numbers.

    >>> explain_invalid("11010519491231002X") is None
    True
    >>> explain_invalid("4.41882199001011E+17")[:45]
    'looks mangled by Excel (scientific notation 4'
    >>> explain_invalid("110105194912310021")
    'bad check character: last character is 1, expected X'
    """
    if id_number is None:
        return "missing"
    if isinstance(id_number, float | int) and not isinstance(id_number, bool):
        return (
            f"stored as a number ({id_number!r}), which loses digits: "
            "format the column as text and re-enter the 18 characters"
        )
    if not isinstance(id_number, str):
        return f"expected a string, got {type(id_number).__name__}"
    text = id_number
    if text != text.strip():
        return "has surrounding spaces"
    if _SCIENTIFIC.match(text):
        return (
            f"looks mangled by Excel (scientific notation {text}): "
            "format the column as text and re-enter the 18 characters"
        )
    if text.endswith(".0") and text[:-2].isdigit():
        return f"has a trailing '.0' (read from a number column): expected {text[:-2]}"
    if len(text) == 15 and text.isascii() and text.isdigit():
        return "15 digits: an old first-generation number, expected the 18-character form"
    if len(text) != 18:
        return f"wrong length: {len(text)} characters, expected 18"
    return _explain_18(text, today or date.today())


def _explain_18(text: str, today: date) -> str | None:
    body, last = text[:17], text[17]
    if not (body.isascii() and body.isdigit()):
        return "the first 17 characters must be digits"
    if last == "x":
        return "lower-case x: the check character must be an upper-case X"
    if not (last.isdigit() or last == "X"):
        return f"bad last character {last!r}: expected a digit or X"
    if text[:2] not in PROVINCE_PREFIXES:
        return f"unknown region code {text[:6]}: no province starts with {text[:2]}"
    born = birth_date(text)
    if born is None:
        return f"bad birth date {text[6:14]}: not a calendar date"
    if not born.year >= EARLIEST_BIRTH_YEAR or born > today:
        return f"implausible birth date {born.isoformat()}"
    expected = check_digit(body)
    if last == expected:
        return None
    if text.endswith("000"):
        return (
            "bad check character and ends in 000: looks rounded by Excel to 15 significant "
            "digits; format the column as text and re-enter the 18 characters"
        )
    return f"bad check character: last character is {last}, expected {expected}"


def make(region6: str | int, birth: date, seq3: int | str) -> str:
    """A valid ID number for a region code, a birth date and a 3-digit sequence number.

    The sequence's parity encodes sex: odd for men, even for women.

    >>> make("110105", date(1949, 12, 31), "002")
    '11010519491231002X'
    >>> make(441882, date(1990, 1, 1), 7)
    '441882199001010078'
    """
    region, seq = f"{int(region6):06d}", f"{int(seq3):03d}"
    if len(region) != 6 or len(seq) != 3:
        raise ValueError(f"region must have 6 digits and seq 3: {region6!r}, {seq3!r}")
    first17 = f"{region}{birth:%Y%m%d}{seq}"
    return first17 + check_digit(first17)


def make_many(
    region: np.ndarray, year: np.ndarray, month: np.ndarray, day: np.ndarray, seq: np.ndarray
) -> np.ndarray:
    """Vectorised ``make``: integer arrays in, an array of 18-character strings out.

    >>> make_many(np.array([110105]), np.array([1949]), np.array([12]), np.array([31]),
    ...           np.array([2])).tolist()
    ['11010519491231002X']
    """
    first17 = (
        np.asarray(region, dtype=np.int64) * 10**11
        + np.asarray(year, dtype=np.int64) * 10**7
        + np.asarray(month, dtype=np.int64) * 10**5
        + np.asarray(day, dtype=np.int64) * 10**3
        + np.asarray(seq, dtype=np.int64)
    )
    total = np.zeros_like(first17)
    rest = first17.copy()
    for weight in reversed(WEIGHTS):  # peel digits from the right
        total += (rest % 10) * weight
        rest //= 10
    checks = np.array(list(CHECK_CHARS))[total % 11]
    return np.char.add(np.char.zfill(first17.astype("U17"), 17), checks)
