"""What happens to contracts that other areas (and the contract's own signing requests) react to.
The outward rows of these events are written by their ``@outward`` writers in outward.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ContractReturnedToDraft:
    """An approved contract was edited: it goes back to draft and its open signing requests lapse."""

    org_id: int
    contract_id: int


@dataclass(frozen=True)
class ContractActivated:
    """Every party signed: the contract is in force."""

    org_id: int
    contract_id: int


@dataclass(frozen=True)
class ContractTerminated:
    """An active contract ended early. Reactions return how many not-yet-invoiced installments they
    cancelled; the outward row reports the total."""

    org_id: int
    contract_id: int
    reason: str
    effective_on: date
