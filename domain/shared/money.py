"""Money rules: ISO 4217 currencies, their minor units, and amount validation. Decimal only."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import SharedErrorCode, Validator
from .text import half_width

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD "
    "GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
    "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB "
    "TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **{code: 2 for code in _TWO_DECIMALS.split()},
    **{code: 0 for code in _ZERO_DECIMALS.split()},
    **{code: 3 for code in _THREE_DECIMALS.split()},
}

# Largest amount we accept (100 trillion minus one unit): exact in NUMERIC(20,4) and in SQLite's
# 64-bit integer of 1/10,000 units.
MAX_AMOUNT = Decimal("99999999999999")


def is_currency(code: str | None) -> bool:
    return code in CURRENCY_EXPONENTS


def quantize(amount: Decimal, currency: str) -> Decimal:
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def check_amount(
    v: Validator, field: str, amount: Decimal | None, currency: str, *, allow_negative: bool = False
) -> Decimal | None:
    """Validate an amount against its currency's minor unit; returns it quantized."""
    if amount is None:
        return None
    try:
        if not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, AttributeError):
        v.add(field, SharedErrorCode.INVALID_AMOUNT, f"{field} must be a finite decimal number")
        return None
    if amount < 0 and not allow_negative:
        v.add(field, SharedErrorCode.INVALID_AMOUNT, f"{field} must not be negative")
        return None
    if abs(amount) > MAX_AMOUNT:
        v.add(field, SharedErrorCode.INVALID_AMOUNT, f"{field} is larger than {MAX_AMOUNT}")
        return None
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    if amount != amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP):
        v.add(
            field,
            SharedErrorCode.INVALID_AMOUNT,
            f"{field} has more than {exponent} decimal places for {currency}",
        )
        return None
    return quantize(amount, currency)


def check_currency(v: Validator, field: str, code: str | None, default: str) -> str:
    if code is None:
        return default
    code = (half_width(code) or "").strip().upper()
    if not is_currency(code):
        v.add(field, SharedErrorCode.INVALID_CURRENCY, f"{code!r} is not an ISO 4217 currency code")
        return default
    return code
