"""Thin Django validators over python-stdnum and phonenumbers (region CN)."""

import hashlib
import hmac
from datetime import date

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc


def normalize_resident_id(value: str) -> str:
    """The 18-character resident ID (GB 11643) in canonical form; raises ValidationError."""
    try:
        number = ric.validate(value)
    except stdnum_errors.InvalidLength:
        raise ValidationError("A resident ID number has 18 characters.", code="invalid_length") from None
    except stdnum_errors.InvalidChecksum:
        raise ValidationError("The resident ID number's check digit is wrong.", code="invalid_checksum") from None
    except stdnum_errors.InvalidComponent:
        try:
            ric.get_birth_date(value)
        except stdnum_errors.ValidationError:
            raise ValidationError(
                "The resident ID number has no valid birth date.", code="invalid_birth_date"
            ) from None
        raise ValidationError("The resident ID number has an unknown region code.", code="invalid_region") from None
    except stdnum_errors.ValidationError:
        raise ValidationError("Enter a valid resident ID number.", code="invalid") from None
    if len(number) != 18:  # stdnum also accepts the old 15-digit form; we do not
        raise ValidationError("A resident ID number has 18 characters.", code="invalid_length")
    born = ric.get_birth_date(number)
    today = date.today()
    if born > today or born.year < today.year - 120:
        raise ValidationError("The resident ID number's birth date is not plausible.", code="invalid_birth_date")
    return number


def validate_resident_id(value: str) -> None:
    normalize_resident_id(value)


def birth_date_from_resident_id(value: str) -> date:
    return ric.get_birth_date(normalize_resident_id(value))


def normalize_credit_code(value: str) -> str:
    """The 18-character unified social credit code (GB 32100); raises ValidationError."""
    try:
        return uscc.validate(value)
    except stdnum_errors.InvalidLength:
        raise ValidationError("A unified social credit code has 18 characters.", code="invalid_length") from None
    except stdnum_errors.InvalidChecksum:
        raise ValidationError("The credit code's check character is wrong.", code="invalid_checksum") from None
    except stdnum_errors.ValidationError:
        raise ValidationError("Enter a valid unified social credit code.", code="invalid") from None


def validate_credit_code(value: str) -> None:
    normalize_credit_code(value)


def normalize_mobile(value: str) -> str:
    """A mainland China mobile number in E.164 (+8613800138000); raises ValidationError."""
    try:
        number = phonenumbers.parse(str(value), "CN")
    except phonenumbers.NumberParseException:
        raise ValidationError("Enter a valid mobile phone number.", code="invalid") from None
    if not phonenumbers.is_valid_number_for_region(number, "CN") or phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError("Enter a valid mainland China mobile phone number.", code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_mobile(value: str) -> None:
    normalize_mobile(value)


def blind_index(value: str) -> str:
    """Keyed hash of a normalised identifier, for exact look-ups without decrypting."""
    return hmac.new(settings.PII_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str) -> str:
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}" if value and len(value) > 8 else "****"


def mask_phone(value: str) -> str:
    digits = value.removeprefix("+86") if value else ""
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "****"
