"""Money helpers over Decimal: one currency (CNY), amounts to the fen, rates to 6 places."""

from decimal import ROUND_HALF_UP, Decimal

AMOUNT_MAX_DIGITS, AMOUNT_DECIMAL_PLACES = 14, 2
RATE_MAX_DIGITS, RATE_DECIMAL_PLACES = 9, 6
FEN = Decimal("0.01")
RATE_QUANTUM = Decimal("0.000001")
ZERO = Decimal("0.00")


def to_money(value: Decimal | int | str) -> Decimal:
    """Quantize an amount to the fen, ROUND_HALF_UP; refuses floats."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def to_rate(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("rates are never floats")
    return Decimal(value).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def format_cny(value: Decimal) -> str:
    """¥1,234.56 (negative as -¥1,234.56)."""
    value = to_money(value)
    sign = "-" if value < 0 else ""
    return f"{sign}¥{abs(value):,.2f}"
