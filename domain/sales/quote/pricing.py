"""Pricing a quote: line amounts (no I/O), lines priced from the price book, totals, and the discount
each role may give without approval."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...shared.actor import Actor
from ...shared.errors import ErrorCode, SharedErrorCode, Validator
from ...shared.money import MAX_AMOUNT, quantize
from ...shared.outbox import record_event
from ...tenancy.user import ROLES, get_user
from ..errors import SalesErrorCode
from ..product import check_tax_rate, check_unit_price, list_prices, products_by_ids, require_active
from .model import (
    DEFAULT_DISCOUNT_THRESHOLD,
    HUNDRED,
    MAX_LINES,
    MAX_QUANTITY,
    DiscountThreshold,
    LineAmounts,
    Quote,
    QuoteLine,
    QuoteLineInput,
)


def line_amounts(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, tax_rate: Decimal,
                 currency: str) -> LineAmounts:
    """One line's money, each step rounded half-up to the currency's minor unit (no I/O)."""
    gross = quantize(quantity * unit_price, currency)
    discount = quantize(gross * discount_percent / HUNDRED, currency)
    net = gross - discount
    tax = quantize(net * tax_rate / HUNDRED, currency)
    return LineAmounts(gross, discount, net, tax, net + tax)


def _check_percent(v: Validator, field_name: str, value: Decimal | None, code: ErrorCode) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite() or value < 0 or value > HUNDRED or value != round(value, 4):
        v.add(field_name, code, f"{field_name} is a percentage from 0 to 100")
        return None
    return value


def _check_quantity(v: Validator, quantity: Decimal | None) -> Decimal | None:
    if quantity is None:
        v.add("quantity", SharedErrorCode.REQUIRED, "quantity is required")
        return None
    if not quantity.is_finite() or quantity <= 0 or quantity > MAX_QUANTITY or quantity != round(quantity, 4):
        v.add("quantity", SharedErrorCode.INVALID_QUANTITY, "quantity is a positive number with at most 4 decimals")
        return None
    return quantity


async def priced_lines(session: AsyncSession, actor: Actor, v: Validator, currency: str,
                        lines: list[QuoteLineInput] | None) -> list[dict[str, Any]]:
    """Validated, priced lines (plain dicts ready for QuoteLine); errors collected on ``v``."""
    if not lines:
        v.add("lines", SharedErrorCode.REQUIRED, "a quote needs at least one line")
        return []
    if len(lines) > MAX_LINES:
        v.add("lines", SharedErrorCode.INVALID, f"at most {MAX_LINES} lines")
        return []
    product_ids = [x.product_id for x in lines if x.product_id is not None]
    products = await products_by_ids(session, actor, product_ids)
    prices = await list_prices(session, actor.org_id, product_ids, currency)
    out = []
    for i, line in enumerate(lines):
        lv = v.under("lines", str(i))
        product = None
        if line.product_id is not None:
            product = require_active(products, line.product_id, ("lines", str(i)))
        description = lv.text("description", line.description if line.description is not None
                              else (product.name if product else None), max_len=500, required=True)
        unit = lv.text("unit", line.unit if line.unit is not None else (product.unit if product else "unit"),
                       max_len=20, required=True)
        quantity = _check_quantity(lv, line.quantity)
        unit_price = line.unit_price
        if unit_price is None and product is not None:
            unit_price = prices.get(product.id)
            if unit_price is None:
                lv.add("unitPrice", SalesErrorCode.NO_PRICE,
                       f"Product {product.code} has no {currency} price: add it to the {currency} price book "
                       "or give unitPrice")
                continue
        if unit_price is None:
            lv.add("unitPrice", SharedErrorCode.REQUIRED, "unitPrice is required for a line without a product")
            continue
        unit_price = check_unit_price(lv, "unitPrice", unit_price)
        discount = _check_percent(lv, "discountPercent", line.discount_percent if line.discount_percent is not None
                                  else Decimal(0), SalesErrorCode.INVALID_DISCOUNT)
        tax_rate = check_tax_rate(lv, "taxRate", line.tax_rate if line.tax_rate is not None
                                  else (product.tax_rate if product else Decimal(0)))
        if None in (quantity, unit_price, discount, tax_rate):
            continue
        amounts = line_amounts(quantity, unit_price, discount, tax_rate, currency)
        if amounts.total > MAX_AMOUNT:
            lv.add("quantity", SharedErrorCode.INVALID_AMOUNT, f"the line total is larger than {MAX_AMOUNT}")
            continue
        out.append({"position": i + 1, "product_id": product.id if product else None, "description": description,
                    "unit": unit, "quantity": quantity, "unit_price": unit_price, "discount_percent": discount,
                    "tax_rate": tax_rate, "gross": amounts.gross, "discount": amounts.discount, "net": amounts.net,
                    "tax": amounts.tax, "total": amounts.total})
    return out


async def discount_threshold(session: AsyncSession, org_id: int, roles: list[str] | frozenset[str]) -> Decimal:
    """The most discount these roles may give without approval: the highest of their roles' thresholds,
    each falling back to the org default (role ``*``), then to 10 %."""
    rows = {r.role: r.max_discount_percent for r in await session.scalars(
        select(DiscountThreshold).where(DiscountThreshold.org_id == org_id))}
    default = rows.get("*", DEFAULT_DISCOUNT_THRESHOLD)
    if "admin" in roles:
        return rows.get("admin", HUNDRED)
    return max((rows.get(r, default) for r in roles), default=default)


async def set_discount_threshold(session: AsyncSession, actor: Actor, *, role: str,
                                 max_discount_percent: Decimal) -> DiscountThreshold:
    v = Validator()
    if role != "*" and role not in ROLES:
        v.add("role", SharedErrorCode.INVALID, f"{role!r} is not a role ({', '.join(ROLES)}) or *")
    pct = _check_percent(v, "maxDiscountPercent", max_discount_percent, SalesErrorCode.INVALID_DISCOUNT)
    v.raise_if_any()
    row = await session.scalar(select(DiscountThreshold).where(DiscountThreshold.org_id == actor.org_id,
                                                               DiscountThreshold.role == role))
    if row is None:
        row = DiscountThreshold(org_id=actor.org_id, role=role, max_discount_percent=pct)
        session.add(row)
    row.max_discount_percent = pct  # type: ignore[assignment]
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="discount_threshold.set", record_type="Org",
                 record_id=actor.org_id, operation="update",
                 payload={"role": role, "maxDiscountPercent": str(pct)})
    return row


async def owner_threshold(session: AsyncSession, org_id: int, owner_id: int) -> Decimal:
    owner = await get_user(session, org_id, owner_id)
    return await discount_threshold(session, org_id, owner.roles)


def apply_totals(quote: Quote, lines: list[dict[str, Any]], threshold: Decimal) -> None:
    quote.gross_total = sum((x["gross"] for x in lines), Decimal(0))
    quote.discount_total = sum((x["discount"] for x in lines), Decimal(0))
    quote.subtotal = sum((x["net"] for x in lines), Decimal(0))
    quote.tax_total = sum((x["tax"] for x in lines), Decimal(0))
    quote.total = quote.subtotal + quote.tax_total
    quote.max_discount_percent = max((x["discount_percent"] for x in lines), default=Decimal(0))
    quote.needs_approval = quote.max_discount_percent > threshold


def replace_lines(session: AsyncSession, quote: Quote, lines: list[dict[str, Any]]) -> None:
    for x in lines:
        session.add(QuoteLine(org_id=quote.org_id, quote_id=quote.id, **x))
