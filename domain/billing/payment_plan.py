"""Payment plans: a contract's installments, by date, by milestone (a named event or, once projects
exist, a delivery milestone) or by percentage. They add up to the contract amount exactly:
percentages are rounded to the currency and the remainder lands on the last installment. A plan can
be replaced until its first installment is invoiced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..contracts.contract import Contract, ContractStatus, contract_event, load_for_write
from ..contracts.events import ContractTerminated
from ..delivery.events import MilestoneReached
from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import handles
from ..shared.clock import clock
from ..shared.errors import SharedErrorCode, ValidationFailed, Validator
from ..shared.money import check_amount, quantize
from ..shared.rows import group_by
from .errors import BillingErrorCode

MAX_INSTALLMENTS = 120
HUNDRED = Decimal(100)


class InstallmentTrigger(StrEnum):
    DATE = "date"
    MILESTONE = "milestone"


class InstallmentStatus(StrEnum):
    PLANNED = "planned"
    """Not due yet (a date in the future, or a milestone not reached)."""
    INVOICED = "invoiced"
    CANCELLED = "cancelled"
    """The contract was terminated before it was invoiced."""


class Installment(Base):
    __tablename__ = "installment"
    __table_args__ = (Index("ix_installment_contract", "contract_id", "position"),
                      Index("ix_installment_due", "org_id", "status", "due_date"))

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    contract_id: Mapped[int] = mapped_column(IdType, ForeignKey("contract.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    milestone: Mapped[str | None] = mapped_column(String(200), nullable=True)
    milestone_reached_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    percent: Mapped[Decimal | None] = mapped_column(nullable=True)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    auto_invoice: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


@dataclass
class InstallmentInput:
    label: str | None = None
    due_date: date | None = None
    milestone: str | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None


def split(total: Decimal, currency: str, shares: list[tuple[Decimal | None, Decimal | None]]) -> list[Decimal]:
    """Amounts for (percent, amount) shares: percents rounded half-up to the currency; the last share
    takes the rounding remainder when every share is a percentage (no I/O)."""
    total = quantize(total, currency)
    out = [amount if amount is not None else quantize(total * (percent or 0) / HUNDRED, currency)
           for percent, amount in shares]
    if out and all(amount is None for _, amount in shares):
        out[-1] += total - sum(out, Decimal(0))
    return out


def installment_payload(i: Installment) -> dict[str, Any]:
    return {"id": i.id, "position": i.position, "label": i.label, "trigger": i.trigger,
            "dueDate": i.due_date.isoformat() if i.due_date else None, "milestone": i.milestone,
            "percent": str(i.percent) if i.percent is not None else None, "amount": str(i.amount),
            "status": i.status}


async def set_payment_plan(session: AsyncSession, actor: Actor, contract_id: int,
                           installments: list[InstallmentInput], *, auto_invoice: bool = False) -> list[Installment]:
    contract = await load_for_write(session, actor, contract_id, None)
    if contract.status in (ContractStatus.SUPERSEDED, ContractStatus.TERMINATED):
        raise ValidationFailed.one("contractId", SharedErrorCode.INVALID_STATE,
                                   f"Contract {contract.number} is {contract.status}.")
    existing = list(await session.scalars(select(Installment).where(Installment.contract_id == contract.id)))
    if any(i.status == InstallmentStatus.INVOICED for i in existing):
        raise ValidationFailed.one("contractId", BillingErrorCode.PLAN_LOCKED,
                                   "Installments of this plan are invoiced already; the plan can no longer change.")
    v = Validator()
    if not installments:
        v.add("installments", SharedErrorCode.REQUIRED, "a plan needs at least one installment")
    if len(installments) > MAX_INSTALLMENTS:
        v.add("installments", SharedErrorCode.INVALID, f"at most {MAX_INSTALLMENTS} installments")
    v.raise_if_any()
    shares: list[tuple[Decimal | None, Decimal | None]] = []
    for n, item in enumerate(installments):
        iv = v.under("installments", str(n))
        iv.text("label", item.label, max_len=200, required=True)
        if (item.due_date is None) == (item.milestone is None or not item.milestone.strip()):
            iv.add("dueDate", SharedErrorCode.REQUIRED, "give exactly one of dueDate or milestone")
        iv.text("milestone", item.milestone, max_len=200)
        if (item.percent is None) == (item.amount is None):
            iv.add("amount", SharedErrorCode.REQUIRED, "give exactly one of amount or percent")
        percent = item.percent
        if percent is not None and (not percent.is_finite() or percent <= 0 or percent > HUNDRED
                                    or percent != round(percent, 4)):
            iv.add("percent", SharedErrorCode.INVALID, "percent is between 0 and 100")
            percent = None
        amount = check_amount(iv, "amount", item.amount, contract.currency)
        if amount is not None and amount <= 0:
            iv.add("amount", SharedErrorCode.INVALID_AMOUNT, "an installment is a positive amount")
        shares.append((percent, amount))
    mixed = {item.amount is not None for item in installments if (item.percent is None) != (item.amount is None)}
    if len(mixed) > 1:
        v.add("installments", SharedErrorCode.INVALID, "use amounts or percentages for every installment, not both")
    v.raise_if_any()
    percents = sum((p for p, a in shares if a is None), Decimal(0))
    if mixed == {False} and percents != HUNDRED:
        raise ValidationFailed.one("installments", BillingErrorCode.INSTALLMENTS_MISMATCH,
                                   f"The percentages add up to {percents.normalize():f} %, not 100 %.")
    amounts = split(contract.amount, contract.currency, shares)
    total = sum(amounts, Decimal(0))
    if total != contract.amount or any(a <= 0 for a in amounts):
        raise ValidationFailed.one("installments", BillingErrorCode.INSTALLMENTS_MISMATCH,
                                   f"The installments add up to {quantize(total, contract.currency)} "
                                   f"{contract.currency}, the contract to "
                                   f"{quantize(contract.amount, contract.currency)}.")
    for old in existing:
        await session.delete(old)
    await session.flush()
    now = clock.now()
    rows = []
    for n, (item, amount) in enumerate(zip(installments, amounts, strict=True)):
        milestone = item.milestone.strip() if item.milestone and item.milestone.strip() else None
        row = Installment(org_id=actor.org_id, contract_id=contract.id, position=n + 1, label=item.label.strip(),
                          trigger=(InstallmentTrigger.MILESTONE if milestone else InstallmentTrigger.DATE).value,
                          due_date=item.due_date, milestone=milestone, percent=item.percent, amount=amount,
                          currency=contract.currency, auto_invoice=auto_invoice,
                          status=InstallmentStatus.PLANNED.value, created_at=now)
        session.add(row)
        rows.append(row)
    await session.flush()
    contract_event(session, actor, contract, "contract.payment_plan_set",
                   installments=[installment_payload(r) for r in rows])
    return rows


async def reach_milestone(session: AsyncSession, actor: Actor, contract_id: int, milestone: str | None,
                          reached_on: date | None) -> list[Installment]:
    """A named event happened: installments waiting for it fall due on ``reached_on`` (default today)."""
    contract = await load_for_write(session, actor, contract_id, None)
    v = Validator()
    name = v.text("milestone", milestone, max_len=200, required=True)
    v.raise_if_any()
    rows = list(await session.scalars(select(Installment).where(
        Installment.contract_id == contract.id, Installment.milestone == name,
        Installment.milestone_reached_on.is_(None))))
    if not rows:
        raise ValidationFailed.one("milestone", SharedErrorCode.INVALID,
                                   f"No installment of contract {contract.number} waits for {name!r}.")
    await _reached(session, actor, contract, rows, name, reached_on or clock.now().date())  # type: ignore[arg-type]
    return rows


async def _reached(session: AsyncSession, actor: Actor | None, contract: Any, rows: list[Installment], name: str,
                   when: date, **extra: Any) -> None:
    for row in rows:
        row.milestone_reached_on = when
        row.due_date = when
    await session.flush()
    contract_event(session, actor, contract, "contract.milestone_reached", milestone=name,
                   reachedOn=when.isoformat(), installments=[installment_payload(r) for r in rows], **extra)


async def delivery_milestone_reached(session: AsyncSession, actor: Actor, *, contract_ids: list[int], name: str,
                                     when: date, project_id: int) -> list[Installment]:
    """A delivery milestone was finished: the installments of the project's contract waiting for a
    milestone of that name fall due (the project manager need not see the contract for that)."""
    out: list[Installment] = []
    for contract_id in contract_ids:
        rows = list(await session.scalars(select(Installment).where(
            Installment.org_id == actor.org_id, Installment.contract_id == contract_id,
            Installment.milestone == name, Installment.milestone_reached_on.is_(None))))
        if rows:
            contract = await session.get(Contract, contract_id)
            await _reached(session, actor, contract, rows, name, when, projectId=project_id)
            out += rows
    return out


@handles(MilestoneReached)
async def _delivery_milestone(session: AsyncSession, actor: Actor | None, event: MilestoneReached) -> None:
    """Delivery meets cash: the project's contract, and the active contracts of the deal it came from."""
    assert actor is not None, "a milestone is finished by someone"
    contract_ids = [event.contract_id] if event.contract_id else []
    if event.opportunity_id is not None:
        contract_ids += [c for c in await session.scalars(select(Contract.id).where(
            Contract.org_id == event.org_id, Contract.opportunity_id == event.opportunity_id,
            Contract.status == ContractStatus.ACTIVE.value)) if c not in contract_ids]
    await delivery_milestone_reached(session, actor, contract_ids=contract_ids, name=event.name,
                                     when=event.reached_on, project_id=event.project_id)


@handles(ContractTerminated)
async def _contract_terminated(session: AsyncSession, actor: Actor | None, event: ContractTerminated) -> int:
    """Installments not invoiced yet are cancelled; returns how many."""
    return await cancel_open_installments(session, event.contract_id)


async def cancel_open_installments(session: AsyncSession, contract_id: int) -> int:
    rows = list(await session.scalars(select(Installment).where(
        Installment.contract_id == contract_id, Installment.status == InstallmentStatus.PLANNED.value)))
    for row in rows:
        row.status = InstallmentStatus.CANCELLED.value
    return len(rows)


async def installments_of(session: AsyncSession, actor: Actor,
                          contract_ids: list[int]) -> dict[int, list[Installment]]:
    rows = await session.scalars(select(Installment).where(
        Installment.org_id == actor.org_id, Installment.contract_id.in_(contract_ids))
        .order_by(Installment.contract_id, Installment.position))
    return group_by(contract_ids, rows, lambda r: r.contract_id)

