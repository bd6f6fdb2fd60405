"""The contract approval flow: ordered steps by role, configurable per org (default: sales_manager →
finance). Submitting a draft opens a round of steps; each step is decided by someone holding its
role (never the contract's owner or author), strictly in order. A rejection, with its reason, sends
the contract back to draft; resubmitting opens a new round. The last approval makes it approved,
ready for signatures."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, JsonType, pk
from ..shared.clock import clock
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..shared.rows import group_by
from ..tenancy.user import ROLES, User, managers_of
from .contract import Contract, ContractStatus, contract_event, flush, load_for_write, require_unsigned
from .errors import ContractErrorCode

DEFAULT_FLOW = ("sales_manager", "finance")
MAX_STEPS = 10


class StepStatus(StrEnum):
    WAITING = "waiting"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ContractApprovalFlow(Base):
    __tablename__ = "contract_approval_flow"
    __table_args__ = (UniqueConstraint("org_id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    steps: Mapped[list[str]] = mapped_column(JsonType)
    updated_at: Mapped[datetime]


class ContractApprovalStep(Base):
    __tablename__ = "contract_approval_step"
    __table_args__ = (Index("ix_contract_approval_step_contract", "contract_id", "round", "position"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    contract_id: Mapped[int] = mapped_column(IdType, ForeignKey("contract.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    decided_by_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    comment: Mapped[str | None] = mapped_column(String(1000), nullable=True)


async def approval_flow(session: AsyncSession, org_id: int) -> list[str]:
    row = await session.scalar(select(ContractApprovalFlow).where(ContractApprovalFlow.org_id == org_id))
    return list(row.steps) if row else list(DEFAULT_FLOW)


async def set_approval_flow(session: AsyncSession, actor: Actor, steps: list[str]) -> list[str]:
    v = Validator()
    if not steps:
        v.add("steps", SharedErrorCode.REQUIRED, "at least one approval step")
    if len(steps) > MAX_STEPS:
        v.add("steps", SharedErrorCode.INVALID, f"at most {MAX_STEPS} steps")
    for i, role in enumerate(steps):
        if role not in ROLES:
            v.add(("steps", str(i)), SharedErrorCode.INVALID, f"{role!r} is not a role ({', '.join(ROLES)})")
    v.raise_if_any()
    row = await session.scalar(select(ContractApprovalFlow).where(ContractApprovalFlow.org_id == actor.org_id))
    if row is None:
        row = ContractApprovalFlow(org_id=actor.org_id, steps=list(steps), updated_at=clock.now())
        session.add(row)
    row.steps, row.updated_at = list(steps), clock.now()
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="contract_flow.set", record_type="Org",
                 record_id=actor.org_id, operation="update", payload={"steps": list(steps)})
    return list(steps)


async def _approvers(session: AsyncSession, contract: Contract, role: str) -> list[int]:
    """Who is told a step awaits them: holders of the role above the owner in the chain, else all
    holders of the role in the org."""
    holders = {u.id: u for u in await session.scalars(select(User).where(
        User.org_id == contract.org_id, User.active.is_(True)))}
    with_role = [uid for uid, u in holders.items() if role in u.roles and uid != contract.owner_id]
    chain = [uid for uid in await managers_of(session, contract.org_id, contract.owner_id) if uid in with_role]
    return chain[:1] if chain else sorted(with_role)[:50]


async def submit_contract(session: AsyncSession, actor: Actor, contract_id: int, version: int | None) -> Contract:
    contract = await load_for_write(session, actor, contract_id, version)
    require_unsigned(contract)
    if contract.status != ContractStatus.DRAFT:
        raise ValidationFailed.one("id", SharedErrorCode.INVALID_STATE,
                                   f"A {contract.status.replace('_', ' ')} contract cannot be submitted.")
    if not contract.document_sha256:
        raise ValidationFailed.one("document", ContractErrorCode.DOCUMENT_REQUIRED,
                                   "Attach the contract document before submitting it.")
    if contract.amount <= 0:
        raise ValidationFailed.one("amount", SharedErrorCode.INVALID_AMOUNT, "A contract needs a positive amount.")
    roles = await approval_flow(session, actor.org_id)
    now = clock.now()
    contract.approval_round += 1
    contract.status = ContractStatus.PENDING_APPROVAL.value
    contract.submitted_at = contract.updated_at = now
    for i, role in enumerate(roles):
        session.add(ContractApprovalStep(org_id=actor.org_id, contract_id=contract.id, round=contract.approval_round,
                                         position=i + 1, role=role,
                                         status=(StepStatus.PENDING if i == 0 else StepStatus.WAITING).value))
    await flush(session)
    contract_event(session, actor, contract, "contract.submitted", audience=await _approvers(session, contract,
                                                                                            roles[0]),
                   step={"position": 1, "role": roles[0]})
    return contract


async def _current_steps(session: AsyncSession, contract: Contract) -> list[ContractApprovalStep]:
    return list(await session.scalars(select(ContractApprovalStep).where(
        ContractApprovalStep.contract_id == contract.id, ContractApprovalStep.round == contract.approval_round)
        .order_by(ContractApprovalStep.position)))


async def _decidable(session: AsyncSession, actor: Actor, contract_id: int, step_id: int,
                     version: int | None) -> tuple[Contract, ContractApprovalStep, list[ContractApprovalStep]]:
    contract = await load_for_write(session, actor, contract_id, version)
    step = await session.get(ContractApprovalStep, step_id)
    if step is None or step.org_id != actor.org_id or step.contract_id != contract.id:
        raise NotFound("ContractApprovalStep", step_id)
    if contract.status != ContractStatus.PENDING_APPROVAL or step.round != contract.approval_round:
        raise ValidationFailed.one("stepId", SharedErrorCode.INVALID_STATE,
                                   "This approval step is not open (the contract is not awaiting it).")
    steps = await _current_steps(session, contract)
    if step.status != StepStatus.PENDING:
        current = next((s for s in steps if s.status == StepStatus.PENDING), None)
        raise ValidationFailed.one("stepId", ContractErrorCode.APPROVAL_OUT_OF_ORDER,
                                   f"Step {step.position} ({step.role}) is {step.status}; the open step is "
                                   + (f"{current.position} ({current.role})." if current else "none."))
    if step.role not in actor.roles:
        raise ValidationFailed.one("stepId", SharedErrorCode.WRONG_APPROVER_ROLE,
                                   f"Step {step.position} is decided by a {step.role}.")
    if actor.user_id in (contract.owner_id, contract.created_by_id):
        raise ValidationFailed.one("stepId", SharedErrorCode.SELF_APPROVAL, "You cannot approve your own contract.")
    return contract, step, steps


def step_payload(step: ContractApprovalStep) -> dict[str, Any]:
    return {"id": step.id, "position": step.position, "role": step.role, "status": step.status,
            "comment": step.comment}


async def approve_step(session: AsyncSession, actor: Actor, contract_id: int, step_id: int, *,
                       comment: str | None, version: int | None = None) -> Contract:
    contract, step, steps = await _decidable(session, actor, contract_id, step_id, version)
    v = Validator()
    comment = v.text("comment", comment, max_len=1000)
    v.raise_if_any()
    now = clock.now()
    step.status, step.decided_by_id, step.decided_at, step.comment = (StepStatus.APPROVED.value, actor.user_id, now,
                                                                      comment or None)
    following = next((s for s in steps if s.position == step.position + 1), None)
    if following is not None:
        following.status = StepStatus.PENDING.value
        audience = await _approvers(session, contract, following.role)
    else:
        contract.status = ContractStatus.APPROVED.value
        contract.approved_at = now
        audience = [contract.owner_id]
    contract.updated_at = now
    await flush(session)
    contract_event(session, actor, contract, "contract.step_approved", audience=audience, step=step_payload(step),
                   next={"position": following.position, "role": following.role} if following else None)
    if following is None:
        contract_event(session, actor, contract, "contract.approved", audience=[contract.owner_id])
    return contract


async def reject_step(session: AsyncSession, actor: Actor, contract_id: int, step_id: int, *,
                      reason: str | None, version: int | None = None) -> Contract:
    contract, step, steps = await _decidable(session, actor, contract_id, step_id, version)
    v = Validator()
    reason = v.text("reason", reason, max_len=1000)
    v.raise_if_any()
    if not reason:
        raise ValidationFailed.one("reason", SharedErrorCode.REASON_REQUIRED, "Say why the contract is rejected.")
    now = clock.now()
    step.status, step.decided_by_id, step.decided_at, step.comment = (StepStatus.REJECTED.value, actor.user_id, now,
                                                                      reason)
    for other in steps:
        if other.status == StepStatus.WAITING:
            other.status = StepStatus.CANCELLED.value
    contract.status = ContractStatus.DRAFT.value
    contract.updated_at = now
    await flush(session)
    contract_event(session, actor, contract, "contract.rejected", audience=[contract.owner_id],
                   step=step_payload(step), reason=reason)
    return contract


async def steps_of(session: AsyncSession, actor: Actor,
                   contract_ids: list[int]) -> dict[int, list[ContractApprovalStep]]:
    """Every step of every round, oldest round first (callers already checked the contracts' visibility)."""
    rows = await session.scalars(select(ContractApprovalStep).where(
        ContractApprovalStep.org_id == actor.org_id, ContractApprovalStep.contract_id.in_(contract_ids))
        .order_by(ContractApprovalStep.contract_id, ContractApprovalStep.round, ContractApprovalStep.position))
    return group_by(contract_ids, rows, lambda r: r.contract_id)
