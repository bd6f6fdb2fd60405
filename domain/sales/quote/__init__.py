"""Quotes on an opportunity: priced lines, totals in Decimal rounded per currency, revisions, and
discount approval by the owner's management chain.

    draft ──submit──▶ pending_approval ──approve──▶ approved ──send──▶ sent ──accept──▶ accepted
      │                     └──reject──▶ rejected (edit → draft)          └──decline──▶ declined
      └──send / accept (only when no line's discount exceeds the owner's threshold)
    approved / sent ──revise──▶ a new draft revision (same number); the old one is superseded

A line's discount above the owner's threshold (per org and role, default 10 %) needs approval by
someone above the owner in the management chain (or an admin) before the quote can be sent or
accepted. Accepting a quote makes the opportunity's amount and currency follow its total, and
supersedes the opportunity's other open quotes.

model.py holds the rows and reads, pricing.py the arithmetic and discount thresholds, lifecycle.py
the moves between statuses."""

from __future__ import annotations

from .lifecycle import (
    accept_quote,
    approve_quote,
    create_quote,
    decline_quote,
    reject_quote,
    revise_quote,
    send_quote,
    submit_quote,
    update_quote,
)
from .model import (
    DEFAULT_DISCOUNT_THRESHOLD,
    EDITABLE,
    HUNDRED,
    MAX_LINES,
    MAX_QUANTITY,
    OPEN_STATUSES,
    QUOTE_SORTS,
    DiscountThreshold,
    LineAmounts,
    Quote,
    QuoteFilter,
    QuoteInput,
    QuoteLine,
    QuoteLineInput,
    QuoteStatus,
    effective_discount_percent,
    filtered_quotes,
    get_quote,
    lines_of,
    list_quotes,
    lock_quote,
    minor_unit,
    quote_event,
    quote_payload,
    quotes_by_ids,
    visible_quotes,
)
from .pricing import (
    apply_totals,
    discount_threshold,
    line_amounts,
    owner_threshold,
    priced_lines,
    replace_lines,
    set_discount_threshold,
)

__all__ = [
    "DEFAULT_DISCOUNT_THRESHOLD",
    "DiscountThreshold",
    "EDITABLE",
    "HUNDRED",
    "LineAmounts",
    "MAX_LINES",
    "MAX_QUANTITY",
    "OPEN_STATUSES",
    "QUOTE_SORTS",
    "Quote",
    "QuoteFilter",
    "QuoteInput",
    "QuoteLine",
    "QuoteLineInput",
    "QuoteStatus",
    "accept_quote",
    "apply_totals",
    "approve_quote",
    "create_quote",
    "decline_quote",
    "discount_threshold",
    "effective_discount_percent",
    "filtered_quotes",
    "get_quote",
    "line_amounts",
    "lines_of",
    "list_quotes",
    "lock_quote",
    "minor_unit",
    "owner_threshold",
    "priced_lines",
    "quote_event",
    "quote_payload",
    "quotes_by_ids",
    "reject_quote",
    "replace_lines",
    "revise_quote",
    "send_quote",
    "set_discount_threshold",
    "submit_quote",
    "update_quote",
    "visible_quotes",
]
