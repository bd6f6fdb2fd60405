"""What happens in crm that other areas react to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadCreated:
    """A lead was created (automation routes it to an owner unless ``owner_given``: the creator named one)."""

    org_id: int
    lead_id: int
    owner_given: bool


@dataclass(frozen=True)
class InteractionLogged:
    """An interaction was logged against a customer (automation scores the customer's intent from it)."""

    org_id: int
    customer_id: int
    interaction_id: int
    kind: str
