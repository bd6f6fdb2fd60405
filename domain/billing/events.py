"""What happens in billing that other areas (workflow rules, webhooks, analytics) may react to.
Outward rows come from the ``@outward`` writers next to each record's event helper (invoice/model.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvoiceOverdue:
    """An issued invoice passed its due date unpaid (announced once; escalation follows the SLA)."""

    org_id: int
    invoice_id: int
    opportunity_id: int | None
    days_overdue: int
