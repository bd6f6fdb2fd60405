"""How a payment is spread over invoices: the allocation plan, a rule without I/O.

Given what is left of a payment, the invoices named (or, automatically, the customer's open ones)
and what was asked for each, it returns what to allocate where, or raises ValidationFailed with
every field error at once. ``payment.allocate_payment`` loads and locks the rows, calls it and
writes the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from ..shared.errors import SharedErrorCode, ValidationFailed, Validator
from ..shared.money import CURRENCY_EXPONENTS, check_amount
from .errors import BillingErrorCode
from .invoice import InvoiceKind, InvoiceStatus

MAX_ALLOCATIONS = 200
MAX_RATE = Decimal(1_000_000)


@dataclass
class AllocationInput:
    invoice_id: int
    amount: Decimal | None = None
    """Default: as much as the invoice's outstanding amount and the payment allow."""
    exchange_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PaymentBalance:
    unallocated: Decimal
    currency: str
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class InvoiceBalance:
    id: int
    number: str | None
    customer_id: int
    currency: str
    outstanding: Decimal
    due_date: date | None = None
    sequence_no: int | None = None
    kind: str = InvoiceKind.INVOICE.value
    status: str = InvoiceStatus.ISSUED.value


@dataclass(frozen=True, slots=True)
class PlannedAllocation:
    invoice_id: int
    amount: Decimal
    """In the invoice's currency."""
    payment_amount: Decimal
    """In the payment's currency (differs only with an exchange rate)."""
    exchange_rate: Decimal | None
    customer_id: int


def check_request(payment: PaymentBalance, allocations: list[AllocationInput] | None, *, automatic: bool) -> None:
    """What can be refused before any invoice is read."""
    if payment.unallocated <= 0:
        raise ValidationFailed.one("paymentId", BillingErrorCode.NOTHING_TO_ALLOCATE,
                                   "Everything of this payment is allocated already.")
    if automatic:
        if allocations:
            raise ValidationFailed.one("allocations", SharedErrorCode.INVALID,
                                       "give allocations or automatic, not both")
        if payment.customer_id is None:
            raise ValidationFailed.one("paymentId", SharedErrorCode.INVALID,
                                       "Match the payment to a customer before allocating it automatically.")
        return
    _check_allocations(allocations)


def _check_allocations(allocations: list[AllocationInput] | None) -> None:
    if not allocations:
        raise ValidationFailed.one("allocations", SharedErrorCode.REQUIRED, "name the invoices to allocate to")
    if len(allocations) > MAX_ALLOCATIONS:
        raise ValidationFailed.one("allocations", SharedErrorCode.INVALID, f"at most {MAX_ALLOCATIONS} allocations")
    if len({a.invoice_id for a in allocations}) != len(allocations):
        raise ValidationFailed.one("allocations", SharedErrorCode.DUPLICATE, "each invoice once per allocation")


def plan_allocation(payment: PaymentBalance, invoices: Sequence[InvoiceBalance],
                    allocations: list[AllocationInput] | None, *, automatic: bool = False) -> list[PlannedAllocation]:
    """The allocations to make: to the invoices named in ``allocations`` (``invoices`` holds each of
    them), or (``automatic``) to ``invoices`` — the customer's open invoices in the payment's
    currency — oldest due first, until the payment is used up."""
    check_request(payment, allocations, automatic=automatic)
    if automatic:
        if not invoices:
            raise ValidationFailed.one("paymentId", BillingErrorCode.NOTHING_TO_ALLOCATE,
                                       f"The customer has no open {payment.currency} invoice.")
        oldest_due_first = sorted(invoices, key=lambda i: (i.due_date or date.max, i.sequence_no or 0, i.id))
        allocations = [AllocationInput(invoice_id=i.id) for i in oldest_due_first]
        _check_allocations(allocations)
        order = allocations
    else:
        assert allocations is not None  # check_request refuses none
        order = sorted(allocations, key=lambda a: a.invoice_id)
    by_id = {i.id: i for i in invoices}
    v = Validator()
    left = payment.unallocated
    planned: list[PlannedAllocation] = []
    for item in order:
        av = v.under("allocations", str(allocations.index(item)))
        invoice = by_id[item.invoice_id]
        if invoice.kind != InvoiceKind.INVOICE:
            av.add("invoiceId", SharedErrorCode.INVALID_STATE, f"{invoice.number} is a credit note")
            continue
        if invoice.status == InvoiceStatus.VOID:
            av.add("invoiceId", BillingErrorCode.INVOICE_VOID, f"Invoice {invoice.number} is void.")
            continue
        if invoice.status == InvoiceStatus.DRAFT:
            av.add("invoiceId", BillingErrorCode.INVOICE_NOT_ISSUED, "The invoice is a draft, not issued.")
            continue
        if payment.customer_id is not None and invoice.customer_id != payment.customer_id:
            av.add("invoiceId", SharedErrorCode.MISMATCHED_RECORD, f"Invoice {invoice.number} is another customer's.")
            continue
        rate = _check_rate(av, payment, invoice, item.exchange_rate)
        if payment.currency != invoice.currency and rate is None:
            continue
        # What is left of the payment buys this much of the invoice, rounded down: never more than it covers.
        available = left if rate is None else (left * rate).quantize(
            Decimal(1).scaleb(-_exp(invoice.currency)), rounding=ROUND_DOWN)
        outstanding = invoice.outstanding
        if item.amount is None:
            amount = min(outstanding, available)
            if amount <= 0:
                if not automatic:
                    av.add("amount", BillingErrorCode.EXCEEDS_OUTSTANDING,
                           f"Nothing is outstanding on {invoice.number}.")
                continue
        else:
            checked = check_amount(av, "amount", item.amount, invoice.currency)
            if checked is None:
                continue
            amount = checked
            if amount <= 0:
                av.add("amount", SharedErrorCode.INVALID_AMOUNT, "an allocation is a positive amount")
                continue
            if amount > outstanding:
                av.add("amount", BillingErrorCode.EXCEEDS_OUTSTANDING,
                       f"Only {outstanding} {invoice.currency} is outstanding on {invoice.number}.")
                continue
        used = amount if rate is None else (amount / rate).quantize(Decimal(1).scaleb(-_exp(payment.currency)),
                                                                    rounding=ROUND_HALF_UP)
        if used > left:
            av.add("amount", BillingErrorCode.EXCEEDS_PAYMENT,
                   f"Only {left} {payment.currency} of the payment is left to allocate.")
            continue
        left -= used
        planned.append(PlannedAllocation(invoice.id, amount, used, rate, invoice.customer_id))
        if automatic and left <= 0:
            break
    v.raise_if_any()
    if not planned:
        raise ValidationFailed.one("paymentId", BillingErrorCode.NOTHING_TO_ALLOCATE, "Nothing could be allocated.")
    if payment.customer_id is None and len({p.customer_id for p in planned}) > 1:
        # allocating an unmatched payment matches it to the invoices' customer: there must be one
        raise ValidationFailed.one("allocations", SharedErrorCode.MISMATCHED_RECORD,
                                   "An unmatched payment pays one customer's invoices; match it first.")
    return planned


def _check_rate(v: Validator, payment: PaymentBalance, invoice: InvoiceBalance, rate: Decimal | None) -> Decimal | None:
    """The exchange rate to use (None for the same currency); CURRENCY_MISMATCH without one."""
    if payment.currency == invoice.currency:
        return None
    if rate is None:
        v.add("exchangeRate", SharedErrorCode.CURRENCY_MISMATCH,
              f"The payment is in {payment.currency}, invoice {invoice.number} in {invoice.currency}: "
              f"give the exchange rate ({invoice.currency} per {payment.currency}).")
        return None
    if not rate.is_finite() or rate <= 0 or rate > MAX_RATE or rate != round(rate, 8):
        v.add("exchangeRate", SharedErrorCode.INVALID, "exchangeRate is a positive number")
        return None
    return rate


def _exp(currency: str) -> int:
    return CURRENCY_EXPONENTS.get(currency, 2)
