"""Invoices and credit notes. An invoice is drafted from a contract's installment (or from free
lines), and gets its number when issued: per-org, gapless and safe under concurrent issuing
(shared/numbering.py). Status follows the money:

    draft ──issue──▶ issued ──payments──▶ partially_paid ──▶ paid
      │                 │
      └──void──▶ void ◀─┘ (only while nothing is paid; a voided invoice keeps its number)

A credit note (its own CN- numbering) reverses all or part of an issued invoice's outstanding
amount; an invoice settled by credit alone ends ``credited``.

model.py holds the rows and reads, issuing.py drafting and issuing (by hand and by the scheduler),
correction.py voids and credit notes."""

from __future__ import annotations

from .correction import (
    issue_credit_note,
    void_invoice,
)
from .issuing import (
    add_lines,
    create_invoice,
    issue_due_installments,
    issue_invoice,
    new_invoice,
    split_gross,
)
from .model import (
    DEFAULT_PAYMENT_TERMS_DAYS,
    HUNDRED,
    INVOICE_SORTS,
    MAX_LINES,
    OPEN_STATUSES,
    Invoice,
    InvoiceFilter,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineInput,
    InvoiceStatus,
    emit,
    filtered_invoices,
    get_invoice,
    invoice_event,
    invoice_payload,
    invoices_by_ids,
    invoices_of_contracts,
    lines_of,
    list_invoices,
    live_invoices_of_installments,
    load_invoice_for_write,
    lock_invoice,
    money_text,
    opportunity_of,
    visible_invoices,
)

__all__ = [
    "DEFAULT_PAYMENT_TERMS_DAYS",
    "HUNDRED",
    "INVOICE_SORTS",
    "Invoice",
    "InvoiceFilter",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceLineInput",
    "InvoiceStatus",
    "MAX_LINES",
    "OPEN_STATUSES",
    "add_lines",
    "create_invoice",
    "emit",
    "filtered_invoices",
    "get_invoice",
    "invoice_event",
    "invoice_payload",
    "invoices_by_ids",
    "invoices_of_contracts",
    "issue_credit_note",
    "issue_due_installments",
    "issue_invoice",
    "lines_of",
    "list_invoices",
    "live_invoices_of_installments",
    "load_invoice_for_write",
    "lock_invoice",
    "money_text",
    "new_invoice",
    "opportunity_of",
    "split_gross",
    "visible_invoices",
    "void_invoice",
]
