from decimal import Decimal

from django import template
from django.utils import timezone

from lender.money import format_cny
from loans.validators import mask_id_number, mask_phone

register = template.Library()


@register.filter
def cny(value) -> str:
    """¥1,234.56 for an amount; an empty string for none."""
    if value is None or value == "":
        return ""
    return format_cny(Decimal(value))


@register.filter
def percent(value, places: int = 2) -> str:
    if value is None:
        return ""
    return f"{Decimal(value) * 100:.{int(places)}f}%"


@register.filter
def masked_id(value) -> str:
    return mask_id_number(value or "")


@register.filter
def masked_phone(value) -> str:
    return mask_phone(value or "")


@register.filter
def hours_left(moment) -> str:
    """SLA timer: '3h 20m left' or '1h 5m late'."""
    if moment is None:
        return ""
    seconds = int((moment - timezone.now()).total_seconds())
    late = seconds < 0
    seconds = abs(seconds)
    text = f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{text} late" if late else f"{text} left"
