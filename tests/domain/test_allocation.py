"""The allocation plan alone: no database, just a payment's balance, invoices and what was asked."""

from datetime import date
from decimal import Decimal

import pytest

from tandem.domain.billing.allocation import (
    AllocationInput,
    InvoiceBalance,
    PaymentBalance,
    PlannedAllocation,
    plan_allocation,
)
from tandem.domain.billing.errors import BillingErrorCode
from tandem.domain.billing.invoice import InvoiceKind, InvoiceStatus
from tandem.domain.shared.errors import ErrorCode, SharedErrorCode, ValidationFailed

CUSTOMER = 7


def payment(unallocated: str, currency: str = "CNY", customer_id: int | None = CUSTOMER) -> PaymentBalance:
    return PaymentBalance(Decimal(unallocated), currency, customer_id)


def invoice(ident: int, outstanding: str, *, currency: str = "CNY", due: date | None = date(2026, 12, 1),
            customer_id: int = CUSTOMER, **overrides) -> InvoiceBalance:
    return InvoiceBalance(id=ident, number=f"INV-{ident}", customer_id=customer_id, currency=currency,
                          outstanding=Decimal(outstanding), due_date=due, sequence_no=ident, **overrides)


def ask(ident: int, amount: str | None = None, rate: str | None = None) -> AllocationInput:
    return AllocationInput(ident, Decimal(amount) if amount else None, Decimal(rate) if rate else None)


def refused(pay: PaymentBalance, invoices: list[InvoiceBalance], asked: list[AllocationInput] | None, *,
            automatic: bool = False) -> list[tuple[tuple[str, ...], ErrorCode]]:
    with pytest.raises(ValidationFailed) as info:
        plan_allocation(pay, invoices, asked, automatic=automatic)
    return [(e.field, e.code) for e in info.value.errors]


def planned(ident: int, amount: str, used: str | None = None, rate: str | None = None,
            customer_id: int = CUSTOMER) -> PlannedAllocation:
    return PlannedAllocation(ident, Decimal(amount), Decimal(used or amount), Decimal(rate) if rate else None,
                             customer_id)


# --- named invoices ---------------------------------------------------------------------------------------


def test_the_exact_amount_pays_the_invoice():
    assert plan_allocation(payment("5000"), [invoice(1, "5000")], [ask(1, "5000")]) == [planned(1, "5000")]


def test_a_partial_amount_pays_part_of_the_invoice():
    assert plan_allocation(payment("5000"), [invoice(1, "5000")], [ask(1, "2000")]) == [planned(1, "2000")]


def test_without_an_amount_as_much_as_the_invoice_and_the_payment_allow():
    # given a payment smaller than the first invoice's outstanding amount
    plan = plan_allocation(payment("3000"), [invoice(1, "2000"), invoice(2, "5000")], [ask(2), ask(1)])
    # then invoices are served in id order until the payment runs out
    assert plan == [planned(1, "2000"), planned(2, "1000")]


def test_more_than_the_outstanding_is_refused():
    assert refused(payment("9000"), [invoice(1, "5000")], [ask(1, "5000.01")]) == [
        (("allocations", "0", "amount"), BillingErrorCode.EXCEEDS_OUTSTANDING)]


def test_more_than_the_payment_is_refused():
    assert refused(payment("100"), [invoice(1, "5000")], [ask(1, "101")]) == [
        (("allocations", "0", "amount"), BillingErrorCode.EXCEEDS_PAYMENT)]


def test_allocations_that_together_exceed_the_payment_are_refused_at_the_one_that_overdraws():
    assert refused(payment("1000"), [invoice(1, "800"), invoice(2, "800")], [ask(2, "800"), ask(1, "800")]) == [
        (("allocations", "0", "amount"), BillingErrorCode.EXCEEDS_PAYMENT)]


def test_a_paid_invoice_named_without_an_amount_has_nothing_outstanding():
    assert refused(payment("100"), [invoice(1, "0")], [ask(1)]) == [
        (("allocations", "0", "amount"), BillingErrorCode.EXCEEDS_OUTSTANDING)]


def test_every_bad_allocation_is_reported_at_once_by_its_place_in_the_request():
    invoices = [invoice(1, "100", status=InvoiceStatus.VOID.value), invoice(2, "100", customer_id=8),
                invoice(3, "100", kind=InvoiceKind.CREDIT_NOTE.value),
                invoice(4, "100", status=InvoiceStatus.DRAFT.value), invoice(5, "100")]
    asked = [ask(5, "-1"), ask(4), ask(3), ask(2), ask(1)]
    assert refused(payment("1000"), invoices, asked) == [
        (("allocations", "4", "invoiceId"), BillingErrorCode.INVOICE_VOID),
        (("allocations", "3", "invoiceId"), SharedErrorCode.MISMATCHED_RECORD),
        (("allocations", "2", "invoiceId"), SharedErrorCode.INVALID_STATE),
        (("allocations", "1", "invoiceId"), BillingErrorCode.INVOICE_NOT_ISSUED),
        (("allocations", "0", "amount"), SharedErrorCode.INVALID_AMOUNT),
    ]


@pytest.mark.parametrize(("asked", "code"), [
    (None, SharedErrorCode.REQUIRED),
    ([], SharedErrorCode.REQUIRED),
    ([ask(1), ask(1)], SharedErrorCode.DUPLICATE),
    ([ask(i) for i in range(201)], SharedErrorCode.INVALID),
])
def test_a_bad_request_is_refused_before_any_invoice_is_looked_at(asked, code):
    assert refused(payment("100"), [], asked) == [(("allocations",), code)]


def test_a_used_up_payment_has_nothing_to_allocate():
    assert refused(payment("0"), [invoice(1, "100")], [ask(1)]) == [
        (("paymentId",), BillingErrorCode.NOTHING_TO_ALLOCATE)]


# --- currencies -------------------------------------------------------------------------------------------


def test_another_currency_without_a_rate_is_a_currency_mismatch():
    assert refused(payment("100", "USD"), [invoice(1, "700")], [ask(1)]) == [
        (("allocations", "0", "exchangeRate"), SharedErrorCode.CURRENCY_MISMATCH)]


@pytest.mark.parametrize("rate", ["0", "-7", "1000001", "7.123456789"])
def test_a_bad_rate_is_invalid(rate):
    assert refused(payment("100", "USD"), [invoice(1, "700")], [ask(1, rate=rate)]) == [
        (("allocations", "0", "exchangeRate"), SharedErrorCode.INVALID)]


def test_with_the_rate_the_invoice_is_paid_in_its_currency_and_the_payment_used_in_its_own():
    assert plan_allocation(payment("100", "USD"), [invoice(1, "700")], [ask(1, "350", rate="7")]) == [
        planned(1, "350", "50", rate="7")]


def test_what_is_left_of_a_foreign_payment_buys_the_invoice_rounded_down():
    # given 10.00 USD at 7.1234 CNY per USD: 71.234 CNY, of which 71.23 can be paid
    assert plan_allocation(payment("10", "USD"), [invoice(1, "700")], [ask(1, rate="7.1234")]) == [
        planned(1, "71.23", "10.00", rate="7.1234")]


# --- automatic --------------------------------------------------------------------------------------------


def test_automatic_allocation_pays_the_oldest_due_first_until_the_payment_is_used_up():
    # given three open invoices issued in one order and due in another
    late = invoice(1, "1000", due=date(2026, 12, 20))
    oldest = invoice(2, "2000", due=date(2026, 11, 1))
    middle = invoice(3, "3000", due=date(2026, 11, 15))
    # when
    plan = plan_allocation(payment("3500"), [late, oldest, middle], None, automatic=True)
    # then
    assert plan == [planned(2, "2000"), planned(3, "1500")]


def test_automatic_allocation_on_the_same_due_date_goes_by_invoice_number():
    plan = plan_allocation(payment("150"), [invoice(2, "100"), invoice(1, "100")], None, automatic=True)
    assert plan == [planned(1, "100"), planned(2, "50")]


def test_automatic_allocation_passes_over_an_invoice_with_nothing_outstanding():
    plan = plan_allocation(payment("150"), [invoice(1, "0"), invoice(2, "100")], None, automatic=True)
    assert plan == [planned(2, "100")]


def test_automatic_allocation_without_open_invoices_has_nothing_to_allocate():
    assert refused(payment("100"), [], None, automatic=True) == [
        (("paymentId",), BillingErrorCode.NOTHING_TO_ALLOCATE)]


def test_automatic_allocation_with_allocations_named_is_invalid():
    assert refused(payment("100"), [invoice(1, "100")], [ask(1)], automatic=True) == [
        (("allocations",), SharedErrorCode.INVALID)]


def test_automatic_allocation_of_an_unmatched_payment_is_invalid():
    assert refused(payment("100", customer_id=None), [invoice(1, "100")], None, automatic=True) == [
        (("paymentId",), SharedErrorCode.INVALID)]


# --- unmatched payments -----------------------------------------------------------------------------------


def test_an_unmatched_payment_pays_one_customers_invoices():
    plan = plan_allocation(payment("300", customer_id=None), [invoice(1, "100", customer_id=8)], [ask(1)])
    assert plan == [planned(1, "100", customer_id=8)]


def test_an_unmatched_payment_cannot_pay_two_customers_invoices():
    invoices = [invoice(1, "100", customer_id=8), invoice(2, "100", customer_id=9)]
    assert refused(payment("300", customer_id=None), invoices, [ask(1), ask(2)]) == [
        (("allocations",), SharedErrorCode.MISMATCHED_RECORD)]
