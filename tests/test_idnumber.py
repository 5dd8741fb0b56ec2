"""GB 11643-1999 resident ID numbers: check digit, validation, messages, generation."""

from datetime import date

import numpy as np
import pytest

from geo import idnumber

# The two examples printed in GB 11643-1999 itself.
STANDARD_EXAMPLES = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("number", STANDARD_EXAMPLES)
def test_standard_examples_are_valid(number):
    assert idnumber.is_valid(number)
    assert idnumber.explain_invalid(number) is None
    assert idnumber.check_digit(number[:17]) == number[17]


def test_check_digit_covers_all_eleven_residues():
    seen = {idnumber.check_digit(f"4418821990010100{d}") for d in range(10)}
    seen |= {idnumber.check_digit(f"4418821990010200{d}") for d in range(10)}
    assert seen == set("0123456789X")


def test_check_digit_rejects_bad_input():
    with pytest.raises(ValueError):
        idnumber.check_digit("1234")
    with pytest.raises(ValueError):
        idnumber.check_digit("1101051949123100X")


@pytest.mark.parametrize("position", range(17))
def test_every_single_digit_change_is_caught(position):
    number = STANDARD_EXAMPLES[0]
    for digit in "0123456789":
        if digit == number[position]:
            continue
        mutated = number[:position] + digit + number[position + 1 :]
        assert not idnumber.is_valid(mutated), mutated
        assert idnumber.explain_invalid(mutated) is not None


def test_swapping_adjacent_digits_is_caught():
    number = "441882199001011230"
    for i in range(16):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            assert not idnumber.is_valid(swapped), swapped


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("11010519491231002x", "lower-case x"),
        ("110105194912310021", "bad check character: last character is 1, expected X"),
        ("1101051949123100", "wrong length: 16"),
        ("110105491231002", "15 digits"),
        ("4.41882199001011E+17", "Excel"),
        ("4.41882E+17", "scientific notation"),
        ("441882199001011000", "rounded by Excel to 15 significant digits"),
        ("441882199001011230.0", "trailing '.0'"),
        (441882199001011230, "stored as a number"),
        (4.4188219900101e17, "stored as a number"),
        (" 441882199001011230", "spaces"),
        ("44188219900230123X", "not a calendar date"),
        ("441882180001011234", "implausible birth date"),
        ("441882209901011234", "implausible birth date"),
        ("991882199001011230", "unknown region"),
        ("4418821990010112Y0", "first 17 characters must be digits"),
        ("44188219900101123Y", "bad last character"),
        (None, "missing"),
    ],
)
def test_explain_invalid_names_the_problem(value, fragment):
    message = idnumber.explain_invalid(value)
    assert message is not None and fragment in message
    assert not idnumber.is_valid(value)


def test_birth_in_future_relative_to_today_argument():
    number = idnumber.make("441882", date(2015, 6, 1), 1)
    assert idnumber.is_valid(number)
    assert not idnumber.is_valid(number, today=date(2015, 5, 31))


def test_make_round_trips_and_encodes_sex():
    male = idnumber.make("441882", date(1962, 2, 28), 11)
    female = idnumber.make(441882, date(2004, 12, 1), "012")
    assert male == "44188219620228011" + male[-1] and idnumber.is_valid(male)
    assert int(male[16]) % 2 == 1 and int(female[16]) % 2 == 0
    assert idnumber.birth_date(female) == date(2004, 12, 1)
    assert idnumber.make("110105", date(1949, 12, 31), "002") == STANDARD_EXAMPLES[0]


def test_make_many_matches_make():
    rng = np.random.default_rng(1)
    n = 500
    year = rng.integers(1920, 2016, n)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    seq = rng.integers(0, 1000, n)
    region = rng.choice([441882, 110105, 440524], n)
    many = idnumber.make_many(region, year, month, day, seq)
    for i in range(n):
        expected = idnumber.make(str(region[i]), date(year[i], month[i], day[i]), int(seq[i]))
        assert many[i] == expected
    assert all(idnumber.is_valid(str(x)) for x in many)
