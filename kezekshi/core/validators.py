"""Validators for Kazakh identifiers: IIN (individuals), BIN (legal entities), phones.

Rules: ``shared/reference/payments-and-ids.md``. Each validator returns the normalised
value or raises ``django.core.exceptions.ValidationError`` with a translated message and
a machine-readable ``code``.
"""

from __future__ import annotations

import datetime as dt
import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

_WEIGHTS_1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_SEPARATORS = re.compile(r"[\s\-]")
# Century and sex from the 7th digit of an IIN.
_CENTURY_SEX = {1: (1800, "M"), 2: (1800, "F"), 3: (1900, "M"), 4: (1900, "F"),
                5: (2000, "M"), 6: (2000, "F")}  # fmt: skip


def check_digit(first_eleven: str) -> int | None:
    """The 12th digit for 11 digits, or None when no check digit exists (both sums give 10)."""
    digits = [int(c) for c in first_eleven]
    for weights in (_WEIGHTS_1, _WEIGHTS_2):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if remainder != 10:
            return remainder
    return None


def _twelve_digits(value: object, *, what: StrOrPromise) -> str:
    text = _SEPARATORS.sub("", str(value or ""))
    if not re.fullmatch(r"\d{12}", text):
        raise ValidationError(
            _("%(what)s must be exactly 12 digits."), code="format", params={"what": what}
        )
    if check_digit(text[:11]) != int(text[11]):
        raise ValidationError(
            _("%(what)s has a wrong check digit."), code="checksum", params={"what": what}
        )
    return text


def _iin_parts(text: str) -> tuple[dt.date, str]:
    century_sex = _CENTURY_SEX.get(int(text[6]))
    if century_sex is None:
        raise ValidationError(_("IIN: the 7th digit must be 1–6."), code="century")
    century, sex = century_sex
    try:
        born = dt.date(century + int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ValidationError(
            _("IIN: the first six digits are not a real birth date."), code="birth_date"
        ) from None
    return born, sex


def validate_iin(value: object) -> str:
    """Return the IIN as 12 digits or raise ValidationError (format, checksum, century, date)."""
    text = _twelve_digits(value, what=_("IIN"))
    _iin_parts(text)
    return text


def iin_birth_date(iin: str) -> dt.date:
    """The birth date encoded in a valid IIN."""
    return _iin_parts(validate_iin(iin))[0]


def iin_sex(iin: str) -> str:
    """'M' or 'F', as encoded in a valid IIN."""
    return _iin_parts(validate_iin(iin))[1]


def validate_bin(value: object) -> str:
    """Return the BIN as 12 digits or raise ValidationError (format, checksum, kind)."""
    text = _twelve_digits(value, what=_("BIN"))
    month = int(text[2:4])
    if not 1 <= month <= 12:
        raise ValidationError(_("BIN: digits 3–4 must be a month."), code="month")
    if text[4] not in "456":
        raise ValidationError(_("BIN: the 5th digit must be 4, 5 or 6."), code="kind")
    if text[5] not in "0123":
        raise ValidationError(_("BIN: the 6th digit must be 0–3."), code="kind")
    return text


def make_iin(*, birth_date: dt.date, sex: str, serial: int) -> str:
    """Build a valid IIN (for generated demo data and tests); serial is 0–9999.

    Skips to the next serial when no check digit exists for this one.
    """
    century_digit = {1800: 1, 1900: 3, 2000: 5}[birth_date.year // 100 * 100]
    century_digit += 1 if sex == "F" else 0
    for attempt in range(10_000):
        body = f"{birth_date:%y%m%d}{century_digit}{(serial + attempt) % 10_000:04d}"
        digit = check_digit(body)
        if digit is not None:
            return f"{body}{digit}"
    raise ValueError("no valid IIN for this date")  # pragma: no cover - mathematically unreachable


def normalize_phone(value: object) -> str:
    """Return a Kazakh mobile number as +7XXXXXXXXXX or raise ValidationError.

    Accepts the usual spellings: ``+7 701 123 45 67``, ``8 (701) 123-45-67``, ``7011234567``.
    """
    text = str(value or "").strip()
    digits = re.sub(r"\D", "", text)
    if len(digits) == 10:
        digits = "7" + digits
    elif len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        number = None
    if (
        number is None
        or phonenumbers.region_code_for_number(number) != "KZ"
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise ValidationError(
            _("Enter a Kazakh mobile number, for example +7 701 123 45 67."), code="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
