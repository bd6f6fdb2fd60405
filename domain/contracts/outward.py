"""The outward rows of contract events: one writer per event type, from the event alone (and, for a
termination, what the reactions to it report), so the feed and the reactions cannot disagree."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.bus import outward
from .contract import Contract, contract_event
from .events import ContractActivated, ContractTerminated


@outward(ContractTerminated)
async def _terminated_row(session: AsyncSession, actor: Actor | None, event: ContractTerminated,
                          cancelled: list[Any]) -> None:
    contract = await session.get(Contract, event.contract_id)
    assert contract is not None
    contract_event(session, actor, contract, "contract.terminated", reason=event.reason,
                   effectiveOn=event.effective_on.isoformat(),
                   cancelledInstallments=sum(n for n in cancelled if isinstance(n, int)))


@outward(ContractActivated)
async def _activated_row(session: AsyncSession, actor: Actor | None, event: ContractActivated,
                         results: list[Any]) -> None:
    contract = await session.get(Contract, event.contract_id)
    assert contract is not None
    contract_event(session, actor, contract, "contract.activated", audience=[contract.owner_id])
