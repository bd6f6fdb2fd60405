"""A quote's life: drafted, submitted for approval when a discount passes the owner's threshold,
approved or rejected, sent, accepted (the opportunity's amount follows) or declined, revised."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...pipeline.opportunity import Opportunity, get_opportunity
from ...shared.actor import Actor
from ...shared.clock import clock
from ...shared.concurrency import flush_or_conflict
from ...shared.dialect import lock_for_update
from ...shared.errors import ErrorCode, NotFound, SharedErrorCode, ValidationFailed, Validator
from ...shared.money import check_currency, quantize
from ...shared.numbering import next_number
from ...shared.outbox import record_event
from ...tenancy.user import managers_of
from ..errors import SalesErrorCode
from .model import (
    EDITABLE,
    OPEN_STATUSES,
    Quote,
    QuoteInput,
    QuoteLine,
    QuoteStatus,
    lock_quote,
    quote_event,
    visible_quotes,
)
from .pricing import apply_totals, owner_threshold, priced_lines, replace_lines


async def create_quote(session: AsyncSession, actor: Actor, data: QuoteInput) -> Quote:
    if data.opportunity_id is None:
        raise ValidationFailed.one("opportunityId", SharedErrorCode.REQUIRED, "opportunityId is required")
    opportunity = await get_opportunity(session, actor, data.opportunity_id)
    v = Validator()
    title = v.text("title", data.title if data.title is not None else opportunity.name, max_len=200, required=True)
    currency = check_currency(v, "currency", data.currency, opportunity.currency)
    notes = v.text("notes", data.notes, max_len=20_000)
    if data.valid_until is not None and data.valid_until < clock.now().date():
        v.add("validUntil", SharedErrorCode.INVALID_DATE_RANGE, "validUntil is in the past")
    lines = await priced_lines(session, actor, v, currency, data.lines)
    v.raise_if_any()
    threshold = await owner_threshold(session, actor.org_id, opportunity.owner_id)
    _, number = await next_number(session, actor.org_id, "quote")
    now = clock.now()
    quote = Quote(org_id=actor.org_id, opportunity_id=opportunity.id, customer_id=opportunity.customer_id,
                  owner_id=opportunity.owner_id, number=number, revision=1, title=title,
                  status=QuoteStatus.DRAFT.value, currency=currency, valid_until=data.valid_until,
                  notes=notes or None, created_by_id=actor.user_id, created_at=now, updated_at=now)
    apply_totals(quote, lines, threshold)
    session.add(quote)
    await session.flush()
    replace_lines(session, quote, lines)
    await session.flush()
    quote_event(session, actor, quote, "quote.created", "create")
    return quote


def _require_status(quote: Quote, allowed: tuple[QuoteStatus, ...], action: str,
                    code: ErrorCode = SharedErrorCode.INVALID_STATE) -> None:
    if quote.status not in allowed:
        raise ValidationFailed.one("id", code, f"A {quote.status.replace('_', ' ')} quote cannot be {action}.")


async def update_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int,
                       data: QuoteInput) -> Quote:
    """Edit a draft or rejected quote (a rejected one goes back to draft). Lines, when given, replace
    the old ones. Approved or sent quotes are locked: revise them instead."""
    quote = await lock_quote(session, actor, quote_id, version)
    _require_status(quote, EDITABLE, "edited; revise it instead", SalesErrorCode.QUOTE_LOCKED)
    v = Validator()
    named = data.set_fields
    if "title" in named:
        quote.title = v.text("title", data.title, max_len=200, required=True)  # type: ignore[assignment]
    if "notes" in named:
        quote.notes = v.text("notes", data.notes, max_len=20_000) or None
    if "valid_until" in named:
        if data.valid_until is not None and data.valid_until < clock.now().date():
            v.add("validUntil", SharedErrorCode.INVALID_DATE_RANGE, "validUntil is in the past")
        quote.valid_until = data.valid_until
    currency = quote.currency
    if "currency" in named and data.currency is not None:
        currency = check_currency(v, "currency", data.currency, quote.currency)
        if currency != quote.currency and "lines" not in named:
            v.add("currency", SharedErrorCode.CURRENCY_MISMATCH, "changing the currency needs the lines re-priced")
    lines = None
    if "lines" in named:
        lines = await priced_lines(session, actor, v, currency, data.lines)
    v.raise_if_any()
    quote.currency = currency
    if lines is not None:
        for old in await session.scalars(select(QuoteLine).where(QuoteLine.quote_id == quote.id)):
            await session.delete(old)
        await session.flush()
        replace_lines(session, quote, lines)
        apply_totals(quote, lines, await owner_threshold(session, actor.org_id, quote.owner_id))
    quote.status = QuoteStatus.DRAFT.value
    quote.updated_at = clock.now()
    await flush_or_conflict(session, "Quote")
    quote_event(session, actor, quote, "quote.updated")
    return quote


async def submit_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    quote = await lock_quote(session, actor, quote_id, version)
    _require_status(quote, EDITABLE, "submitted for approval")
    now = clock.now()
    quote.status = QuoteStatus.PENDING_APPROVAL.value
    quote.submitted_at = now
    quote.decided_by_id = quote.decided_at = quote.decision_comment = None
    quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    approvers = await managers_of(session, actor.org_id, quote.owner_id)
    quote_event(session, actor, quote, "quote.submitted", audience=approvers[:1])
    return quote


async def _check_approver(session: AsyncSession, actor: Actor, quote: Quote) -> None:
    if actor.user_id == quote.owner_id or actor.user_id == quote.created_by_id:
        raise ValidationFailed.one("id", SharedErrorCode.SELF_APPROVAL, "You cannot approve your own quote.")
    if actor.has_role("admin"):
        return
    if actor.user_id not in await managers_of(session, actor.org_id, quote.owner_id):
        raise ValidationFailed.one("id", SalesErrorCode.NOT_APPROVER,
                                   "Only a manager above the quote's owner (or an admin) may decide on it.")


async def approve_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None,
                        comment: str | None) -> Quote:
    quote = await lock_quote(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.PENDING_APPROVAL,), "approved")
    await _check_approver(session, actor, quote)
    v = Validator()
    comment = v.text("comment", comment, max_len=1000)
    v.raise_if_any()
    now = clock.now()
    quote.status = QuoteStatus.APPROVED.value
    quote.decided_by_id, quote.decided_at, quote.decision_comment = actor.user_id, now, comment or None
    quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    quote_event(session, actor, quote, "quote.approved", audience=[quote.owner_id], comment=comment or None)
    return quote


async def reject_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None,
                       comment: str | None) -> Quote:
    quote = await lock_quote(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.PENDING_APPROVAL,), "rejected")
    await _check_approver(session, actor, quote)
    v = Validator()
    comment = v.text("comment", comment, max_len=1000, required=True)
    if not comment:
        raise ValidationFailed.one("comment", SharedErrorCode.REASON_REQUIRED, "Say why the quote is rejected.")
    v.raise_if_any()
    now = clock.now()
    quote.status = QuoteStatus.REJECTED.value
    quote.decided_by_id, quote.decided_at, quote.decision_comment = actor.user_id, now, comment
    quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    quote_event(session, actor, quote, "quote.rejected", audience=[quote.owner_id], comment=comment)
    return quote


def _require_releasable(quote: Quote, action: str) -> None:
    """Sending or accepting: approved, or a draft within the discount policy."""
    if quote.status == QuoteStatus.DRAFT and quote.needs_approval:
        raise ValidationFailed.one("id", SalesErrorCode.DISCOUNT_NEEDS_APPROVAL,
                                   f"A discount of {quote.max_discount_percent.normalize()} % needs approval "
                                   f"before the quote can be {action}.")
    if quote.valid_until is not None and quote.valid_until < clock.now().date():
        raise ValidationFailed.one("id", SalesErrorCode.QUOTE_EXPIRED,
                                   f"The quote expired on {quote.valid_until.isoformat()}; revise it.")


async def send_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    quote = await lock_quote(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.DRAFT, QuoteStatus.APPROVED), "sent")
    _require_releasable(quote, "sent")
    now = clock.now()
    quote.status = QuoteStatus.SENT.value
    quote.sent_at = quote.updated_at = now
    await flush_or_conflict(session, "Quote")
    quote_event(session, actor, quote, "quote.sent")
    return quote


async def accept_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    """The customer accepted: the opportunity's amount follows the quote's total.

    The opportunity is locked before the quote: accepts of its quotes queue there, so two racing
    accepts end in one accepted quote and ALREADY_ACCEPTED, not in a deadlock over each other's quotes."""
    opportunity_id = await session.scalar(visible_quotes(actor).where(Quote.id == quote_id)
                                          .with_only_columns(Quote.opportunity_id))
    if opportunity_id is None:
        raise NotFound("Quote", quote_id)
    opportunity = await session.scalar(lock_for_update(session, select(Opportunity).where(
        Opportunity.org_id == actor.org_id, Opportunity.id == opportunity_id)))
    assert opportunity is not None
    quote = await lock_quote(session, actor, quote_id, version)
    others = list(await session.scalars(select(Quote).where(
        Quote.org_id == actor.org_id, Quote.opportunity_id == quote.opportunity_id, Quote.id != quote.id)))
    if quote.status == QuoteStatus.ACCEPTED or any(o.status == QuoteStatus.ACCEPTED for o in others):
        raise ValidationFailed.one("id", SalesErrorCode.ALREADY_ACCEPTED,
                                   "This quote, or another of its opportunity, is accepted already.")
    _require_status(quote, (QuoteStatus.DRAFT, QuoteStatus.APPROVED, QuoteStatus.SENT), "accepted")
    _require_releasable(quote, "accepted")
    now = clock.now()
    quote.status = QuoteStatus.ACCEPTED.value
    quote.accepted_at = quote.updated_at = now
    for other in others:
        if other.status in OPEN_STATUSES:
            other.status = QuoteStatus.SUPERSEDED.value
            other.updated_at = now
    await flush_or_conflict(session, "Quote")
    changes = {}
    if opportunity.amount != quote.total:
        changes["amount"] = [str(quantize(opportunity.amount, opportunity.currency)),
                             str(quantize(quote.total, quote.currency))]
    if opportunity.currency != quote.currency:
        changes["currency"] = [opportunity.currency, quote.currency]
    if changes:
        opportunity.amount, opportunity.currency = quote.total, quote.currency
        opportunity.updated_at = now
        await flush_or_conflict(session, "The opportunity")
        record_event(session, actor, org_id=actor.org_id, topic="opportunity.updated", record_type="Opportunity",
                     record_id=opportunity.id, operation="update",
                     payload={"changes": changes, "version": opportunity.version, "quoteId": quote.id})
    quote_event(session, actor, quote, "quote.accepted")
    return quote


async def decline_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None,
                        reason: str | None) -> Quote:
    quote = await lock_quote(session, actor, quote_id, version)
    _require_status(quote, (QuoteStatus.SENT, QuoteStatus.APPROVED), "declined")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    quote.status = QuoteStatus.DECLINED.value
    quote.decision_comment = reason or quote.decision_comment
    quote.updated_at = clock.now()
    await flush_or_conflict(session, "Quote")
    quote_event(session, actor, quote, "quote.declined", reason=reason or None)
    return quote


async def revise_quote(session: AsyncSession, actor: Actor, quote_id: int, version: int | None) -> Quote:
    """A new draft revision (same number, revision + 1) copying lines; the old one is superseded."""
    old = await lock_quote(session, actor, quote_id, version)
    _require_status(old, (QuoteStatus.APPROVED, QuoteStatus.SENT, QuoteStatus.DECLINED, QuoteStatus.REJECTED),
                    "revised")
    latest = await session.scalar(select(Quote.revision).where(Quote.org_id == actor.org_id,
                                                               Quote.number == old.number)
                                  .order_by(Quote.revision.desc()).limit(1))
    now = clock.now()
    new = Quote(org_id=old.org_id, opportunity_id=old.opportunity_id, customer_id=old.customer_id,
                owner_id=old.owner_id, number=old.number, revision=(latest or old.revision) + 1, previous_id=old.id,
                title=old.title, status=QuoteStatus.DRAFT.value, currency=old.currency, valid_until=None,
                notes=old.notes, gross_total=old.gross_total, discount_total=old.discount_total,
                subtotal=old.subtotal, tax_total=old.tax_total, total=old.total,
                max_discount_percent=old.max_discount_percent, needs_approval=old.needs_approval,
                created_by_id=actor.user_id, created_at=now, updated_at=now)
    session.add(new)
    old.status = QuoteStatus.SUPERSEDED.value
    old.updated_at = now
    await flush_or_conflict(session, "Quote")
    for line in await session.scalars(select(QuoteLine).where(QuoteLine.quote_id == old.id)
                                       .order_by(QuoteLine.position)):
        session.add(QuoteLine(org_id=new.org_id, quote_id=new.id, position=line.position, product_id=line.product_id,
                              description=line.description, unit=line.unit, quantity=line.quantity,
                              unit_price=line.unit_price, discount_percent=line.discount_percent,
                              tax_rate=line.tax_rate, gross=line.gross, discount=line.discount, net=line.net,
                              tax=line.tax, total=line.total))
    await session.flush()
    quote_event(session, actor, new, "quote.revised", "create", previousId=old.id)
    return new
