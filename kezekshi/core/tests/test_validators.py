from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from kezekshi.core.validators import (
    check_digit,
    iin_birth_date,
    iin_sex,
    make_iin,
    normalize_phone,
    validate_bin,
    validate_iin,
)


def test_a_valid_iin_is_returned_as_twelve_digits() -> None:
    assert validate_iin(" 1205 0360 0127 ") == "120503600127"
    assert iin_birth_date("120503600127") == dt.date(2012, 5, 3)
    assert iin_sex("120503600127") == "F"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("12050360012", "format"),
        ("1205036001277", "format"),
        ("12050360012x", "format"),
        ("", "format"),
        ("120503600128", "checksum"),
    ],
)
def test_a_malformed_iin_is_refused_with_a_code(value: str, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        validate_iin(value)
    assert error.value.code == code


def test_an_iin_with_an_impossible_date_or_century_is_refused() -> None:
    body_bad_date = "1213316" + "0001"  # 31 Dec 2012 is fine; 31 Feb is not
    bad = body_bad_date.replace("1231", "0231")
    digit = check_digit(bad)
    assert digit is not None
    with pytest.raises(ValidationError) as error:
        validate_iin(f"{bad}{digit}")
    assert error.value.code == "birth_date"
    bad_century = "1205037" + "0001"
    digit = check_digit(bad_century)
    assert digit is not None
    with pytest.raises(ValidationError) as error:
        validate_iin(f"{bad_century}{digit}")
    assert error.value.code == "century"


def test_the_second_weight_row_is_used_when_the_first_gives_ten() -> None:
    # Sum with weights 1..11 of 00000000001 is 11 ≡ 0; find a body whose first sum is 10.
    body = next(
        f"{n:011d}"
        for n in range(10**6, 10**6 + 1000)
        if sum(int(c) * w for c, w in zip(f"{n:011d}", range(1, 12), strict=True)) % 11 == 10
    )
    second = sum(int(c) * w for c, w in zip(body, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), strict=True))
    assert check_digit(body) == (None if second % 11 == 10 else second % 11)


@given(
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
    sex=st.sampled_from(["M", "F"]),
    serial=st.integers(0, 9999),
)
def test_generated_iins_validate_and_carry_birth_date_and_sex(
    born: dt.date, sex: str, serial: int
) -> None:
    iin = make_iin(birth_date=born, sex=sex, serial=serial)
    assert validate_iin(iin) == iin
    assert iin_birth_date(iin) == born
    assert iin_sex(iin) == sex


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_any_single_digit_change_of_a_valid_iin_is_caught(text: str) -> None:
    try:
        iin = validate_iin(text)
    except ValidationError:
        return
    for position in range(12):
        for digit in "0123456789":
            if digit == iin[position]:
                continue
            changed = iin[:position] + digit + iin[position + 1 :]
            if position == 11:
                with pytest.raises(ValidationError):
                    validate_iin(changed)


def test_bin_rules() -> None:
    body = "08094000001"
    digit = check_digit(body)
    assert digit is not None
    assert validate_bin(f"{body}{digit}") == f"{body}{digit}"
    bad_kind = "08097000001"
    digit = check_digit(bad_kind)
    assert digit is not None
    with pytest.raises(ValidationError) as error:
        validate_bin(f"{bad_kind}{digit}")
    assert error.value.code == "kind"
    bad_month = "08134000001"
    digit = check_digit(bad_month)
    assert digit is not None
    with pytest.raises(ValidationError) as error:
        validate_bin(f"{bad_month}{digit}")
    assert error.value.code == "month"


@pytest.mark.parametrize(
    "raw",
    ["+7 701 123 45 67", "8 (701) 123-45-67", "87011234567", "7011234567", "+77011234567"],
)
def test_kazakh_mobile_numbers_are_normalised(raw: str) -> None:
    assert normalize_phone(raw) == "+77011234567"


@pytest.mark.parametrize(
    "raw", ["", "123", "+7 495 123 45 67", "+7 727 212 34 56", "+1 202 555 0100", "phone"]
)
def test_non_kazakh_or_landline_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as error:
        normalize_phone(raw)
    assert error.value.code == "phone"


def test_a_local_env_file_fills_in_only_what_the_environment_lacks(
    tmp_path: Any, monkeypatch: Any
) -> None:
    import os

    from django.core.exceptions import ImproperlyConfigured

    from kezekshi.core.env import load_env_file

    monkeypatch.setenv("KEZEKSHI_TEST_SET", "from-environment")
    monkeypatch.delenv("KEZEKSHI_TEST_NEW", raising=False)
    env = tmp_path / ".env"
    env.write_text('# comment\n\nKEZEKSHI_TEST_SET=from-file\nKEZEKSHI_TEST_NEW="quoted"\n')
    load_env_file(env)
    assert os.environ["KEZEKSHI_TEST_SET"] == "from-environment"
    assert os.environ.pop("KEZEKSHI_TEST_NEW") == "quoted"
    env.write_text("not a setting\n")
    with pytest.raises(ImproperlyConfigured, match=":1:"):
        load_env_file(env)
    load_env_file(tmp_path / "missing")  # no file: nothing happens
