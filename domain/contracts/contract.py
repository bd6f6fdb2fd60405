"""Contracts: from an accepted quote or directly; an attached document kept with its SHA-256; an
approval flow by role (approval.py); e-signature by every party (signature.py).

    draft ──submit──▶ pending_approval ──last step approves──▶ approved ──first signature──▶ signing
      ▲                     │                                                                │
      └──any step rejects───┘                                        all parties signed ──▶ active

Once anyone has signed, the contract is immutable: changes go through an amendment, a new contract
(``amends``) that is approved and signed in turn and, once active, supersedes the original."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..crm.customer import get_customer
from ..pipeline.opportunity import get_opportunity
from ..sales.product import check_tax_rate
from ..sales.quote import Quote, QuoteStatus, get_quote
from ..shared.actor import Actor
from ..shared.archive import Archivable, listed
from ..shared.base import Base, IdType, JsonType, pk
from ..shared.bus import dispatch, handles
from ..shared.clock import clock
from ..shared.concurrency import flush_or_conflict
from ..shared.concurrency import load_for_write as lock_row
from ..shared.dialect import contains_text
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.money import check_amount, check_currency, quantize
from ..shared.numbering import next_number
from ..shared.outbox import record_event
from ..shared.pagination import Page, PageRequest, SortKey, paginate
from ..shared.payload import camel, plain
from ..tenancy.handover import UserDeactivated, hand_over
from ..tenancy.org import get_org
from ..tenancy.scope import owned_rows
from ..tenancy.user import get_user
from .errors import ContractErrorCode
from .events import ContractReturnedToDraft, ContractTerminated

MAX_DOCUMENT_BYTES = 5_000_000
MAX_PARTIES = 10


class ContractStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SIGNING = "signing"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    TERMINATED = "terminated"


SIGNED_STATUSES = (ContractStatus.SIGNING, ContractStatus.ACTIVE, ContractStatus.SUPERSEDED,
                   ContractStatus.TERMINATED)


class Contract(Archivable, Base):
    __tablename__ = "contract"
    __table_args__ = (
        Index("ix_contract_org_created", "org_id", "created_at", "id"),
        Index("ix_contract_org_number", "org_id", "number", unique=True),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(IdType, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("opportunity.id", ondelete="SET NULL"),
                                                       nullable=True, index=True)
    quote_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("quote.id", ondelete="SET NULL"), nullable=True)
    amends_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contract.id"), nullable=True)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal]
    """Total contract value, tax included."""
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal]
    """Percent of tax included in the amount (invoices split their lines with it)."""
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    terms: Mapped[str | None] = mapped_column(Text, nullable=True)
    parties: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(20))
    document_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    document_content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    document_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    document_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    document_content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    approval_round: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    amendment_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    terminated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    termination_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_signed(self) -> bool:
        return self.status in SIGNED_STATUSES


@dataclass
class Party:
    name: str
    role: str = "customer"


@dataclass
class DocumentInput:
    name: str | None = None
    content_base64: str | None = None
    content_type: str | None = None


@dataclass
class ContractInput:
    customer_id: int | None = None
    opportunity_id: int | None = None
    quote_id: int | None = None
    title: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    tax_rate: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    terms: str | None = None
    parties: list[Party] | None = None
    document: DocumentInput | None = None
    owner_id: int | None = None
    set_fields: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ContractFilter:
    status: str | None = None
    customer_id: int | None = None
    opportunity_id: int | None = None
    owner_id: int | None = None
    search: str | None = None
    archived: bool | None = False
    """False: leave archived rows out (the default); True: only archived ones; None: both."""


CONTRACT_SORTS = {
    "CREATED_AT": SortKey("CREATED_AT", Contract.created_at, datetime),
    "UPDATED_AT": SortKey("UPDATED_AT", Contract.updated_at, datetime),
    "NUMBER": SortKey("NUMBER", Contract.number, str),
    "AMOUNT": SortKey("AMOUNT", Contract.amount, Decimal),
}


def contract_payload(c: Contract) -> dict[str, Any]:
    return {
        "id": c.id, "number": c.number, "customerId": c.customer_id, "opportunityId": c.opportunity_id,
        "quoteId": c.quote_id, "ownerId": c.owner_id, "title": c.title, "status": c.status,
        "amount": str(quantize(c.amount, c.currency)), "currency": c.currency,
        "startDate": c.start_date.isoformat() if c.start_date else None,
        "endDate": c.end_date.isoformat() if c.end_date else None,
        "documentSha256": c.document_sha256, "version": c.version,
    }


def contract_event(session: AsyncSession, actor: Actor | None, c: Contract, topic: str, *,
                   operation: str = "update", audience: list[int] | None = None, **extra: Any) -> None:
    record_event(session, actor, org_id=c.org_id, topic=topic, record_type="Contract", record_id=c.id,
                 operation=operation, payload={**contract_payload(c), **extra},
                 also=("Opportunity", c.opportunity_id) if c.opportunity_id else None, audience=audience or ())


def _document(v: Validator, doc: DocumentInput | None) -> tuple[str, str, bytes, str] | None:
    """(name, content type, bytes, sha256) of an attached document, validated."""
    if doc is None:
        return None
    dv = v.under("document")
    name = dv.text("name", doc.name, max_len=200, required=True)
    content_type = dv.text("contentType", doc.content_type or "application/pdf", max_len=100)
    if not doc.content_base64:
        dv.add("contentBase64", SharedErrorCode.REQUIRED, "the document's content is required (base64)")
        return None
    try:
        content = base64.b64decode(doc.content_base64, validate=True)
    except (binascii.Error, ValueError):
        dv.add("contentBase64", SharedErrorCode.INVALID, "contentBase64 is not valid base64")
        return None
    if not content:
        dv.add("contentBase64", SharedErrorCode.REQUIRED, "the document is empty")
        return None
    if len(content) > MAX_DOCUMENT_BYTES:
        dv.add("contentBase64", SharedErrorCode.TOO_LONG, f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
        return None
    return name or "", content_type or "application/pdf", content, hashlib.sha256(content).hexdigest()


def _parties(v: Validator, parties: list[Party] | None) -> list[dict[str, Any]] | None:
    if parties is None:
        return None
    if len(parties) > MAX_PARTIES:
        v.add("parties", SharedErrorCode.INVALID, f"at most {MAX_PARTIES} parties")
    out = []
    for i, p in enumerate(parties):
        pv = v.under("parties", str(i))
        name = pv.text("name", p.name, max_len=200, required=True)
        role = pv.text("role", p.role, max_len=40, required=True)
        out.append({"name": name, "role": role})
    return out


def _dates(v: Validator, start: date | None, end: date | None) -> None:
    if start and end and end < start:
        v.add("endDate", SharedErrorCode.INVALID_DATE_RANGE, "endDate is before startDate")


def _set_document(contract: Contract, doc: tuple[str, str, bytes, str]) -> None:
    name, content_type, content, digest = doc
    contract.document_name, contract.document_content_type = name, content_type
    contract.document_content, contract.document_size, contract.document_sha256 = content, len(content), digest


async def create_contract(session: AsyncSession, actor: Actor, data: ContractInput) -> Contract:
    """A draft contract, from an accepted quote (customer, opportunity, amount and currency follow
    it) or directly for a customer."""
    quote: Quote | None = None
    opportunity_id = data.opportunity_id
    if data.quote_id is not None:
        quote = await get_quote(session, actor, data.quote_id)
        if quote.status != QuoteStatus.ACCEPTED:
            raise ValidationFailed.one("quoteId", ContractErrorCode.QUOTE_NOT_ACCEPTED,
                                       f"Quote {quote.number} is {quote.status}, not accepted.")
        taken = await session.scalar(select(Contract.number).where(
            Contract.org_id == actor.org_id, Contract.quote_id == quote.id, Contract.amends_id.is_(None),
            Contract.status.notin_([ContractStatus.SUPERSEDED.value, ContractStatus.TERMINATED.value])).limit(1))
        if taken is not None:
            raise ValidationFailed.one("quoteId", SharedErrorCode.DUPLICATE,
                                       f"Contract {taken} was made from quote {quote.number} already.")
        opportunity_id = quote.opportunity_id
    customer_id = quote.customer_id if quote else data.customer_id
    if customer_id is None:
        raise ValidationFailed.one("customerId", SharedErrorCode.REQUIRED, "customerId (or quoteId) is required")
    customer = await get_customer(session, actor, customer_id)
    owner_id = data.owner_id or (quote.owner_id if quote else None)
    if opportunity_id is not None:
        opportunity = await get_opportunity(session, actor, opportunity_id)
        if opportunity.customer_id != customer.id:
            raise ValidationFailed.one("opportunityId", SharedErrorCode.MISMATCHED_RECORD,
                                       "The opportunity belongs to another customer.")
        owner_id = owner_id or opportunity.owner_id
    owner_id = owner_id or customer.owner_id
    if data.owner_id is not None:
        await get_user(session, actor.org_id, data.owner_id)
    org = await get_org(session, actor.org_id)
    v = Validator()
    default_title = quote.title if quote else customer.name
    title = v.text("title", data.title if data.title is not None else default_title, max_len=200, required=True)
    currency = check_currency(v, "currency", data.currency, quote.currency if quote else org.default_currency)
    if quote and currency != quote.currency:
        v.add("currency", SharedErrorCode.CURRENCY_MISMATCH, f"the quote is in {quote.currency}")
    amount = data.amount if data.amount is not None else (quote.total if quote else None)
    if amount is None:
        v.add("amount", SharedErrorCode.REQUIRED, "amount is required")
    amount = check_amount(v, "amount", amount, currency)
    default_rate = _quote_tax_rate(quote) if quote else Decimal(0)
    tax_rate = check_tax_rate(v, "taxRate", data.tax_rate if data.tax_rate is not None else default_rate)
    _dates(v, data.start_date, data.end_date)
    terms = v.text("terms", data.terms, max_len=100_000)
    parties = _parties(v, data.parties) or [{"name": customer.name, "role": "customer"}, {"name": org.name,
                                                                                        "role": "vendor"}]
    doc = _document(v, data.document)
    v.raise_if_any()
    _, number = await next_number(session, actor.org_id, "contract")
    now = clock.now()
    contract = Contract(org_id=actor.org_id, number=number, customer_id=customer.id, opportunity_id=opportunity_id,
                        quote_id=quote.id if quote else None, owner_id=owner_id, title=title, amount=amount,
                        currency=currency, tax_rate=tax_rate, start_date=data.start_date, end_date=data.end_date,
                        terms=terms or None, parties=parties, status=ContractStatus.DRAFT.value,
                        created_by_id=actor.user_id, created_at=now, updated_at=now)
    if doc:
        _set_document(contract, doc)
    session.add(contract)
    await session.flush()
    contract_event(session, actor, contract, "contract.created", operation="create")
    return contract


def _quote_tax_rate(quote: Quote) -> Decimal:
    """The quote's effective tax rate (tax over net), to 4 decimals."""
    if not quote.subtotal:
        return Decimal(0)
    return (quote.tax_total * 100 / quote.subtotal).quantize(Decimal("0.0001"))


async def load_for_write(session: AsyncSession, actor: Actor, contract_id: int, version: int | None) -> Contract:
    return await lock_row(session, visible_contracts(actor).where(Contract.id == contract_id), type_name="Contract",
                          record_id=contract_id, version=version)


async def flush(session: AsyncSession) -> None:
    await flush_or_conflict(session, "Contract")


def require_unsigned(contract: Contract) -> None:
    if contract.is_signed:
        raise ValidationFailed.one("id", ContractErrorCode.CONTRACT_SIGNED,
                                   f"Contract {contract.number} is signed and cannot change; amend it instead.")


async def update_contract(session: AsyncSession, actor: Actor, contract_id: int, version: int,
                          data: ContractInput) -> Contract:
    """Edit a draft (or approved, not yet signed) contract. Any change to an approved one sends it
    back to draft, to be approved again."""
    contract = await load_for_write(session, actor, contract_id, version)
    require_unsigned(contract)
    if contract.status == ContractStatus.PENDING_APPROVAL:
        raise ValidationFailed.one("id", SharedErrorCode.INVALID_STATE,
                                   "The contract is being approved; have it rejected to change it.")
    v = Validator()
    named = data.set_fields
    changes: dict[str, Any] = {}
    if "title" in named:
        changes["title"] = v.text("title", data.title, max_len=200, required=True)
    currency = contract.currency
    if "currency" in named and data.currency is not None:
        currency = changes["currency"] = check_currency(v, "currency", data.currency, contract.currency)
    if "amount" in named:
        if data.amount is None:
            v.add("amount", SharedErrorCode.REQUIRED, "amount cannot be cleared")
        else:
            changes["amount"] = check_amount(v, "amount", data.amount, currency)
    if "tax_rate" in named and data.tax_rate is not None:
        changes["tax_rate"] = check_tax_rate(v, "taxRate", data.tax_rate)
    for key in ("start_date", "end_date"):
        if key in named:
            changes[key] = getattr(data, key)
    _dates(v, changes.get("start_date", contract.start_date), changes.get("end_date", contract.end_date))
    if "terms" in named:
        changes["terms"] = v.text("terms", data.terms, max_len=100_000) or None
    if "parties" in named and data.parties is not None:
        changes["parties"] = _parties(v, data.parties)
    doc = _document(v, data.document) if "document" in named else None
    v.raise_if_any()
    changed = {k: val for k, val in changes.items() if getattr(contract, k) != val}
    if doc and doc[3] != contract.document_sha256:
        _set_document(contract, doc)
        changed["document_sha256"] = doc[3]
    if not changed:
        return contract
    for key, value in changed.items():
        setattr(contract, key, value)
    if contract.status == ContractStatus.APPROVED:
        contract.status = ContractStatus.DRAFT.value
        contract.approved_at = None
        await dispatch(session, actor, ContractReturnedToDraft(contract.org_id, contract.id))
    contract.updated_at = clock.now()
    await flush(session)
    contract_event(session, actor, contract, "contract.updated",
                   changes={camel(k): plain(v2) for k, v2 in changed.items()})
    return contract




async def amend_contract(session: AsyncSession, actor: Actor, contract_id: int, *, reason: str | None,
                         data: ContractInput) -> Contract:
    """A new draft contract amending a signed one; once it is active the original is superseded."""
    original = await load_for_write(session, actor, contract_id, None)
    if original.status != ContractStatus.ACTIVE:
        raise ValidationFailed.one("contractId", SharedErrorCode.INVALID_STATE,
                                   f"Only an active contract can be amended (this one is {original.status}).")
    pending = await session.scalar(select(Contract.number).where(
        Contract.org_id == actor.org_id, Contract.amends_id == original.id,
        Contract.status.notin_([ContractStatus.ACTIVE.value, ContractStatus.SUPERSEDED.value,
                                ContractStatus.TERMINATED.value])).limit(1))
    if pending is not None:
        raise ValidationFailed.one("contractId", SharedErrorCode.INVALID_STATE,
                                   f"Amendment {pending} of this contract is still open; finish it first.")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000, required=True)
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the contract is amended.")
    named = data.set_fields
    currency = original.currency
    amount = original.amount
    if "amount" in named and data.amount is not None:
        amount = check_amount(v, "amount", data.amount, currency)
    title = v.text("title", data.title, max_len=200, required=True) if "title" in named else original.title
    start = data.start_date if "start_date" in named else original.start_date
    end = data.end_date if "end_date" in named else original.end_date
    _dates(v, start, end)
    terms = (v.text("terms", data.terms, max_len=100_000) or None) if "terms" in named else original.terms
    doc = _document(v, data.document) if "document" in named else None
    v.raise_if_any()
    _, number = await next_number(session, actor.org_id, "contract")
    now = clock.now()
    amendment = Contract(org_id=original.org_id, number=number, customer_id=original.customer_id,
                         opportunity_id=original.opportunity_id, quote_id=original.quote_id, amends_id=original.id,
                         owner_id=original.owner_id, title=title, amount=amount, currency=currency,
                         tax_rate=original.tax_rate, start_date=start, end_date=end, terms=terms,
                         parties=original.parties, status=ContractStatus.DRAFT.value, amendment_reason=reason,
                         created_by_id=actor.user_id, created_at=now, updated_at=now)
    if doc:
        _set_document(amendment, doc)
    session.add(amendment)
    await session.flush()
    contract_event(session, actor, amendment, "contract.amendment_created", operation="create",
                   amendsId=original.id, reason=reason)
    return amendment


async def terminate_contract(session: AsyncSession, actor: Actor, contract_id: int, *, reason: str | None,
                             effective_on: date | None, version: int | None = None) -> Contract:
    """End an active contract early: installments not invoiced yet are cancelled (billing reacts to
    ``ContractTerminated``); invoices stay."""
    contract = await load_for_write(session, actor, contract_id, version)
    if contract.status != ContractStatus.ACTIVE:
        raise ValidationFailed.one("id", SharedErrorCode.INVALID_STATE,
                                   f"Only an active contract can be terminated (this one is {contract.status}).")
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the contract is terminated.")
    when = effective_on or clock.now().date()
    if contract.start_date and when < contract.start_date:
        raise ValidationFailed.one("effectiveOn", SharedErrorCode.INVALID_DATE_RANGE, "effectiveOn is before the start")
    contract.status = ContractStatus.TERMINATED.value
    contract.terminated_on, contract.termination_reason = when, reason
    contract.updated_at = clock.now()
    await flush(session)
    await dispatch(session, actor, ContractTerminated(contract.org_id, contract.id, reason, when))
    return contract


async def document_of(session: AsyncSession, actor: Actor, contract_id: int) -> tuple[Contract, bytes | None]:
    contract = await get_contract(session, actor, contract_id)
    content = await session.scalar(select(Contract.document_content).where(Contract.id == contract.id))
    return contract, content


def visible_contracts(actor: Actor) -> Any:
    stmt = select(Contract).where(Contract.org_id == actor.org_id)
    scope = owned_rows(actor, "Contract", Contract)
    return stmt if scope is None else stmt.where(scope)


async def get_contract(session: AsyncSession, actor: Actor, contract_id: int) -> Contract:
    found = await session.scalar(visible_contracts(actor).where(Contract.id == contract_id))
    if found is None:
        raise NotFound("Contract", contract_id)
    return found


async def contracts_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Contract]:
    return {c.id: c for c in await session.scalars(visible_contracts(actor).where(Contract.id.in_(ids)))}


async def list_contracts(session: AsyncSession, actor: Actor, flt: ContractFilter, req: PageRequest, *,
                         sort: str = "CREATED_AT", with_total: bool = False) -> Page[Contract]:
    return await paginate(session, filtered_contracts(session, actor, flt), entity=Contract,
                          sort=CONTRACT_SORTS[sort], req=req, with_total=with_total)


def filtered_contracts(session: AsyncSession, actor: Actor, flt: ContractFilter) -> Any:
    """The contracts the actor may see that pass the filter (a select, unordered)."""
    stmt = visible_contracts(actor)
    if flt.status:
        stmt = stmt.where(Contract.status == flt.status)
    if flt.customer_id is not None:
        stmt = stmt.where(Contract.customer_id == flt.customer_id)
    if flt.opportunity_id is not None:
        stmt = stmt.where(Contract.opportunity_id == flt.opportunity_id)
    if flt.owner_id is not None:
        stmt = stmt.where(Contract.owner_id == flt.owner_id)
    if flt.search and flt.search.strip():
        stmt = stmt.where(contains_text(session, Contract.title, flt.search.strip())
                          | contains_text(session, Contract.number, flt.search.strip()))
    return listed(stmt, Contract, flt.archived)


@handles(UserDeactivated)
async def _hand_over_contracts(session: AsyncSession, actor: Actor | None, event: UserDeactivated) -> Any:
    return await hand_over(session, actor, event, Contract, "owner_id",
                           Contract.status.not_in((ContractStatus.SUPERSEDED.value, ContractStatus.TERMINATED.value)),
                           record_type="Contract", topic="contract.reassigned")
