"""How each outbox event reads on a shared timeline: its kind and a human-readable summary.
All timeline wording lives here (one module, not scattered across features).

A summary is written from the payload its reader receives, already cut to what that reader may
read: a figure the reader may not see is missing from the payload, and the sentence leaves it out
rather than print a placeholder (``over budget``, not ``over budget (None of None)``)."""

from __future__ import annotations

from typing import Any

FIELD_LABELS = {
    "name": "name", "amount": "amount", "currency": "currency", "owner_id": "owner",
    "expected_close_date": "expected close date", "probability": "probability", "next_step": "next step",
    "milestones": "milestones", "custom_fields": "custom fields", "tags": "tags", "industry": "industry",
    "tier": "tier", "lifecycle_stage": "lifecycle stage", "credit_limit": "credit limit",
}


def describe(topic: str, record_type: str, payload: dict[str, Any]) -> tuple[str, str]:
    """(kind, summary) of an event for a timeline."""
    if topic == "opportunity.stage_moved":
        summary = f"Stage moved from {payload.get('from')} to {payload.get('to')}"
        if payload.get("lostReason"):
            summary += f" (lost: {payload['lostReason']})"
        return "stage_moved", summary
    if topic.endswith(".updated"):
        changes = payload.get("changes") or {}
        parts = [f"{FIELD_LABELS.get(k, k)}: " + (f"{_shown(v[0])} → {_shown(v[1])}"
                                                  if isinstance(v, list) and len(v) == 2 else _shown(v))
                 for k, v in changes.items()]
        return "updated", "Changed " + "; ".join(parts) if parts else "Updated"
    if topic == "opportunity.created":
        return "created", f"Opportunity {payload.get('name')} created in {payload.get('stage')}"
    if topic == "customer.created":
        return "created", f"Customer {payload.get('name')} created"
    if topic == "contact.created":
        return "contact_added", f"Contact {payload.get('name')} added"
    if topic == "interaction.logged":
        kind = str(payload.get("kind") or "interaction").replace("_", " ").capitalize()
        return "interaction", kind + (f": {payload['summary']}" if payload.get("summary") else " logged")
    if topic == "comment.added":
        return "comment", "Reply added" if payload.get("parentId") else "Comment added"
    if topic == "comment.edited":
        return "comment_edited", "Comment edited"
    if topic == "comment.deleted":
        return "comment_deleted", "Comment deleted"
    if topic == "meeting.recorded":
        return "meeting", f"Meeting: {payload.get('title')} ({payload.get('actionItems', 0)} action items)"
    if topic == "action_item.assigned":
        due = f", due {payload['dueAt'][:10]}" if payload.get("dueAt") else ""
        return "action_item", f"Action item: {payload.get('title')}{due}"
    if topic == "action_item.updated":
        changes = payload.get("changes") or {}
        if "status" in changes:
            return "action_item", f"Action item {payload.get('title')}: {changes['status'][0]} → {changes['status'][1]}"
        return "action_item", f"Action item {payload.get('title')} changed"
    if topic == "action_item.reminder":
        return "reminder", f"Reminder: {payload.get('title')} is due {str(payload.get('dueAt'))[:16]}"
    if topic == "sla.escalated":
        what = payload.get("title") or payload.get("number")
        return "escalation", f"Escalated (level {payload.get('level')}): {what} is overdue"
    if topic == "lead.converted":
        return "converted", "Lead converted to customer, contact and opportunity"
    if topic.startswith(("quote.", "contract.", "invoice.", "credit_note.", "payment.")):
        return _quote_to_cash(topic, payload)
    if topic.startswith(("project.", "task.", "time.", "timesheet.", "expense.", "change.")):
        return _delivery(topic, payload)
    if topic == "record.shared":
        return "shared", "Shared"
    return topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()


def _shown(value: Any) -> str:
    return "(none)" if value is None or value == "" else str(value)


def _money(payload: dict[str, Any], key: str = "total", prefix: str = ": ") -> str:
    """``prefix`` + the amount and currency, or nothing when the reader may not see the amount."""
    if payload.get(key) is None:
        return ""
    return prefix + f"{payload.get(key)} {payload.get('currency') or ''}".strip()


def _part(template: str, *values: Any) -> str:
    """``template`` filled with ``values``, or nothing when one of them is missing."""
    return "" if any(v is None or v == "" for v in values) else template.format(*values)


def _quote_to_cash(topic: str, p: dict[str, Any]) -> tuple[str, str]:
    quote = f"Quote {p.get('number')} rev {p.get('revision')}"
    contract = f"Contract {p.get('number')}"
    invoice = f"Invoice {p.get('number') or '(draft)'}"
    step = p.get("step") or {}
    signer = p.get("signer") or {}
    texts = {
        "quote.created": ("quote", f"{quote} drafted{_money(p)}"),
        "quote.updated": ("quote", f"{quote} edited{_money(p)}"),
        "quote.submitted": ("approval", f"{quote} submitted for approval"
                                        + _part(" (max discount {} %)", p.get("maxDiscountPercent"))),
        "quote.approved": ("approval", f"{quote} approved" + (f": {p['comment']}" if p.get("comment") else "")),
        "quote.rejected": ("approval", f"{quote} rejected: {p.get('comment')}"),
        "quote.sent": ("quote", f"{quote} sent to the customer"),
        "quote.accepted": ("quote", f"{quote} accepted{_money(p)}"),
        "quote.declined": ("quote", f"{quote} declined" + (f": {p['reason']}" if p.get("reason") else "")),
        "quote.revised": ("quote", f"{quote} drafted as a new revision"),
        "contract.created": ("contract", f"{contract} drafted{_money(p, 'amount')}"),
        "contract.updated": ("contract", f"{contract} edited"),
        "contract.amendment_created": ("contract", f"{contract} drafted as an amendment: {p.get('reason')}"),
        "contract.submitted": ("approval", f"{contract} submitted; step 1 awaits a {step.get('role')}"),
        "contract.step_approved": ("approval", f"{contract}: step {step.get('position')} ({step.get('role')}) "
                                               "approved"),
        "contract.approved": ("approval", f"{contract} approved, ready for signatures"),
        "contract.rejected": ("approval", f"{contract} rejected at step {step.get('position')} ({step.get('role')}): "
                                          f"{p.get('reason')}"),
        "contract.signature_requested": ("signature", f"{contract}: signature requested from {signer.get('name')}"),
        "contract.signed": ("signature", f"{contract} signed by {signer.get('name')} ({signer.get('party')})"),
        "contract.activated": ("contract", f"{contract} signed by every party: active"),
        "contract.superseded": ("contract", f"{contract} superseded by its amendment"),
        "contract.terminated": ("contract", f"{contract} terminated as of {p.get('effectiveOn')}: {p.get('reason')}"),
        "contract.payment_plan_set": ("payment_plan", f"{contract}: payment plan set"
                                                      + _part(" ({} installments)", len(p["installments"])
                                                              if isinstance(p.get("installments"), list) else None)),
        "contract.milestone_reached": ("payment_plan", f"{contract}: milestone {p.get('milestone')} reached"),
        "invoice.drafted": ("invoice", f"Invoice drafted{_money(p)}"),
        "invoice.issued": ("invoice", f"{invoice} issued{_money(p)}" + _part(", due {}", p.get("dueDate"))),
        "invoice.voided": ("invoice", f"{invoice} voided: {p.get('reason')}"),
        "invoice.credited": ("invoice", f"{invoice} credited{_money(p, 'amount', ' ')}"),
        "invoice.payment_allocated": ("payment", f"{invoice}: payment{_money(p, 'amount', ' of ')} applied"
                                                 + _part(", {} outstanding", p.get("outstanding"))),
        "invoice.allocation_reversed": ("payment", f"{invoice}: payment{_money(p, 'amount', ' of ')} reversed"
                                                   + _part(" ({})", p.get("reason"))),
        "invoice.overdue": ("reminder", f"{invoice} is overdue" + _money(p, "outstanding")
                                        + _part(" due {}", p.get("dueDate"))),
        "credit_note.issued": ("invoice", f"Credit note {p.get('number')} issued{_money(p)}"),
        "payment.recorded": ("payment", f"Payment received from {p.get('payerName')}{_money(p, 'amount')}"),
        "payment.allocated": ("payment", f"Payment{_money(p, 'amount', ' of ')} allocated"),
        "payment.allocation_reversed": ("payment", "Payment allocation reversed"),
        "payment.matched": ("payment", f"Payment from {p.get('payerName')} matched to a customer"),
    }
    return texts.get(topic, (topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()))


def _delivery(topic: str, p: dict[str, Any]) -> tuple[str, str]:
    project = f"Project {p.get('number')}"
    task = (p.get("task") or {}).get("name") or "(a task)"
    change = p.get("change") or {}
    dependency = p.get("dependency") or {}
    texts = {
        "project.created": ("project", f"{project} created from the won deal"
                                       + (f" (template {p['template']})" if p.get("template") else "")),
        "project.updated": ("project", f"{project} settings changed: {', '.join(p.get('changes') or [])}"),
        "project.progress_reported": ("progress", f"{project} progress ({str(p.get('health', '')).upper()}"
                                                  + _part(", {} %", p.get("percentComplete"))
                                                  + ")" + _part(": {}", p.get("status"))),
        "project.schedule_risk": ("risk", f"{project} is at risk of finishing late"
                                          + _part(" (forecast {}, due {})", p.get("forecastFinish"),
                                                  p.get("deadline"))),
        "project.cost_risk": ("risk", f"{project} is forecast over budget"
                                      + _part(" ({} of {} {})", p.get("estimateAtCompletion"), p.get("budget"),
                                              p.get("currency"))),
        "task.created": ("task", f"Task {task} added"),
        "task.updated": ("task", f"Task {task} updated"),
        "task.delay_risk": ("risk", f"Task {task} is forecast {p.get('daysLate')} days late"),
        "task.dependency_added": ("task", f"{dependency.get('successor')} now waits for "
                                          f"{dependency.get('predecessor')}"),
        "task.dependency_removed": ("task", f"{dependency.get('successor')} no longer waits for "
                                            f"{dependency.get('predecessor')}"),
        "time.logged": ("time", _part("{} h ", p.get("hours")) + f"logged on {task}" + _part(" ({})", p.get("date"))),
        "timesheet.submitted": ("time", f"Timesheet for the week of {p.get('weekStart')} submitted"
                                        + _part(" ({} h)", p.get("hours"))),
        "timesheet.approved": ("time", f"Timesheet for the week of {p.get('weekStart')} approved"),
        "timesheet.rejected": ("time", f"Timesheet for the week of {p.get('weekStart')} sent back: "
                                       f"{p.get('comment')}"),
        "expense.added": ("expense", "Expense" + _money(p, "amount", " ") + _part(": {}", p.get("description"))),
        "change.requested": ("change", f"Change requested: {change.get('title')} ("
                                       + _part("budget {}, ", change.get("budgetDelta"))
                                       + f"schedule {change.get('scheduleDeltaDays')} days)"),
        "change.manager_approved": ("change", f"Change {change.get('title')} approved by the project manager; "
                                              "a sales manager decides next"),
        "change.approved": ("change", f"Change {change.get('title')} approved: budget and dates adjusted"),
        "change.rejected": ("change", f"Change {change.get('title')} rejected: {p.get('reason')}"),
    }
    return texts.get(topic, (topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()))
