"""E-signature: one signing request per signer of an approved contract. A signer is a user of the org
(who signs signed in) or an outside party who signs with the one-time token handed out when the
request was made (only its SHA-256 is stored). A signature records the signer, the time, the IP and
user agent it came from and the SHA-256 of the document signed, which must be the contract's
current one. The first signature freezes the contract; the last makes it active (and supersedes
the contract it amends)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.bus import dispatch, handles
from ..shared.clock import clock
from ..shared.dialect import lock_for_update
from ..shared.errors import NotFound, SharedErrorCode, ValidationFailed, Validator
from ..shared.rows import group_by
from ..shared.text import half_width
from ..tenancy.user import get_user
from .contract import Contract, ContractStatus, contract_event, flush, load_for_write
from .errors import ContractErrorCode
from .events import ContractActivated, ContractReturnedToDraft

EMAIL_MAX = 254


class SignatureStatus(StrEnum):
    PENDING = "pending"
    SIGNED = "signed"
    CANCELLED = "cancelled"


class SignatureRequest(Base):
    __tablename__ = "signature_request"
    __table_args__ = (Index("ix_signature_request_contract", "contract_id"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    contract_id: Mapped[int] = mapped_column(IdType, ForeignKey("contract.id", ondelete="CASCADE"))
    party: Mapped[str] = mapped_column(String(40))
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX), nullable=True)
    signer_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    token_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    requested_by_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id"))
    requested_at: Mapped[datetime]
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    signed_by_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("app_user.id"), nullable=True)
    signed_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_user_agent: Mapped[str | None] = mapped_column(String(500), nullable=True)
    signed_document_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


@dataclass(frozen=True)
class Requested:
    request: SignatureRequest
    signing_token: str | None
    """Handed out once, for an outside signer; None for a signer who is a user of the org."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def request_signature(session: AsyncSession, actor: Actor, contract_id: int, *, party: str | None,
                            signer_name: str | None, signer_email: str | None,
                            signer_user_id: int | None) -> Requested:
    contract = await load_for_write(session, actor, contract_id, None)
    if contract.status not in (ContractStatus.APPROVED, ContractStatus.SIGNING):
        raise ValidationFailed.one("contractId", SharedErrorCode.NOT_APPROVED,
                                   f"Contract {contract.number} is {contract.status}; it must be approved first.")
    v = Validator()
    party = v.text("party", party or "customer", max_len=40, required=True)
    user = await get_user(session, actor.org_id, signer_user_id) if signer_user_id is not None else None
    name = v.text("signerName", signer_name if signer_name is not None else (user.name if user else None),
                  max_len=200, required=True)
    email = v.text("signerEmail", half_width(signer_email) if signer_email is not None
                   else (user.email if user else None), max_len=EMAIL_MAX)
    if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
        v.add("signerEmail", SharedErrorCode.INVALID_EMAIL, "signerEmail is not an email address")
    if user is None and not email:
        v.add("signerEmail", SharedErrorCode.REQUIRED, "an outside signer needs an email address")
    v.raise_if_any()
    token = None if user else secrets.token_urlsafe(32)
    request = SignatureRequest(org_id=actor.org_id, contract_id=contract.id, party=party, signer_name=name,
                               signer_email=email or None, signer_user_id=user.id if user else None,
                               token_sha256=_hash(token) if token else None, status=SignatureStatus.PENDING.value,
                               requested_by_id=actor.user_id, requested_at=clock.now())
    session.add(request)
    await session.flush()
    contract_event(session, actor, contract, "contract.signature_requested", audience=[user.id] if user else [],
                   signer={"name": name, "party": party, "requestId": request.id})
    return Requested(request, token)


async def sign_contract(session: AsyncSession, actor: Actor, request_id: int, *, document_sha256: str | None,
                        signing_token: str | None, ip: str | None, user_agent: str | None) -> SignatureRequest:
    # The contract is locked before its request, as every other writer of both does (an edit locks the
    # contract, then cancels its requests): a signature racing an edit waits instead of deadlocking.
    contract_id = await session.scalar(select(SignatureRequest.contract_id).where(
        SignatureRequest.org_id == actor.org_id, SignatureRequest.id == request_id))
    if contract_id is None:
        raise NotFound("SignatureRequest", request_id)
    contract = await session.scalar(lock_for_update(session, select(Contract).where(
        Contract.org_id == actor.org_id, Contract.id == contract_id)))
    assert contract is not None
    request = await session.scalar(lock_for_update(session, select(SignatureRequest).where(
        SignatureRequest.id == request_id)))
    assert request is not None
    if request.status == SignatureStatus.SIGNED:
        raise ValidationFailed.one("requestId", ContractErrorCode.ALREADY_SIGNED,
                                   f"{request.signer_name} signed already, on {request.signed_at:%Y-%m-%d %H:%M}.")
    if request.status == SignatureStatus.CANCELLED:
        raise ValidationFailed.one("requestId", SharedErrorCode.INVALID_STATE, "This signing request was cancelled.")
    if contract.status not in (ContractStatus.APPROVED, ContractStatus.SIGNING):
        raise ValidationFailed.one("requestId", SharedErrorCode.NOT_APPROVED,
                                   f"Contract {contract.number} is {contract.status} and cannot be signed.")
    if request.signer_user_id is not None:
        if actor.user_id != request.signer_user_id:
            raise ValidationFailed.one("requestId", ContractErrorCode.NOT_SIGNER,
                                       "Only the named signer may sign this request.")
    elif not signing_token or not hmac.compare_digest(_hash(signing_token), request.token_sha256 or ""):
        raise ValidationFailed.one("signingToken", ContractErrorCode.NOT_SIGNER,
                                   "The signing token does not match this request.")
    if (document_sha256 or "").strip().lower() != contract.document_sha256:
        raise ValidationFailed.one("documentSha256", ContractErrorCode.DOCUMENT_CHANGED,
                                   "The document you saw is not the contract's current document.")
    now = clock.now()
    request.status = SignatureStatus.SIGNED.value
    request.signed_at, request.signed_by_user_id = now, actor.user_id
    request.signed_ip = (ip or "")[:64] or None
    request.signed_user_agent = (user_agent or "")[:500] or None
    request.signed_document_sha256 = contract.document_sha256
    request.token_sha256 = None  # the token is spent
    pending = await session.scalar(select(SignatureRequest.id).where(
        SignatureRequest.contract_id == contract.id, SignatureRequest.status == SignatureStatus.PENDING.value,
        SignatureRequest.id != request.id).limit(1))
    contract.status = (ContractStatus.SIGNING if pending else ContractStatus.ACTIVE).value
    contract.updated_at = now
    if pending is None:
        contract.activated_at = now
    await flush(session)
    contract_event(session, actor, contract, "contract.signed", audience=[contract.owner_id],
                   signer={"name": request.signer_name, "party": request.party, "requestId": request.id})
    if pending is None:
        await dispatch(session, actor, ContractActivated(contract.org_id, contract.id))
        if contract.amends_id is not None:
            original = await session.scalar(lock_for_update(session, select(Contract).where(
                Contract.id == contract.amends_id)))
            if original is not None and original.status == ContractStatus.ACTIVE:
                original.status = ContractStatus.SUPERSEDED.value
                original.updated_at = now
                await flush(session)
                contract_event(session, actor, original, "contract.superseded", amendedById=contract.id)
    return request


async def cancel_open_requests(session: AsyncSession, contract: Contract) -> None:
    for request in await session.scalars(select(SignatureRequest).where(
            SignatureRequest.contract_id == contract.id, SignatureRequest.status == SignatureStatus.PENDING.value)):
        request.status = SignatureStatus.CANCELLED.value
        request.token_sha256 = None


@handles(ContractReturnedToDraft)
async def _requests_lapse(session: AsyncSession, actor: Actor | None, event: ContractReturnedToDraft) -> None:
    contract = await session.get(Contract, event.contract_id)
    assert contract is not None
    await cancel_open_requests(session, contract)


async def signatures_of(session: AsyncSession, actor: Actor,
                        contract_ids: list[int]) -> dict[int, list[SignatureRequest]]:
    rows = await session.scalars(select(SignatureRequest).where(
        SignatureRequest.org_id == actor.org_id, SignatureRequest.contract_id.in_(contract_ids))
        .order_by(SignatureRequest.contract_id, SignatureRequest.id))
    return group_by(contract_ids, rows, lambda r: r.contract_id)
