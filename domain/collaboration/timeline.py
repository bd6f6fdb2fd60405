"""How each outbox event reads on a shared timeline: its kind and a human-readable summary.
All timeline wording lives here (one module, not scattered across features).

A summary is written from the payload its reader receives, already cut to what that reader may
read: a figure the reader may not see is missing from the payload, and the sentence leaves it out
rather than print a placeholder (``over budget``, not ``over budget (None of None)``)."""

from __future__ import annotations

import re
from typing import Any

FIELD_LABELS = {
    "name": "name", "amount": "amount", "currency": "currency", "owner_id": "owner",
    "expected_close_date": "expected close date", "probability": "probability", "next_step": "next step",
    "milestones": "milestones", "custom_fields": "custom fields", "tags": "tags", "industry": "industry",
    "tier": "tier", "lifecycle_stage": "lifecycle stage", "credit_limit": "credit limit",
    "next_step_at": "next step due",
}


def describe(topic: str, record_type: str, payload: dict[str, Any]) -> tuple[str, str]:
    """(kind, summary) of an event for a timeline."""
    if topic == "opportunity.stage_moved":
        summary = f"Stage moved from {_v(payload, 'from')} to {_v(payload, 'to')}"
        if payload.get("lostReason"):
            summary += f" (lost: {payload['lostReason']})"
        return "stage_moved", summary
    if topic.endswith(".updated") or topic == "workflow.record_updated":
        changes = _dict(payload, "changes")
        parts = [f"{FIELD_LABELS.get(k, k)}: " + (f"{_shown(v[0])} → {_shown(v[1])}"
                                                  if isinstance(v, list) and len(v) == 2 else _shown(v))
                 for k, v in changes.items()]
        return "updated", "Changed " + "; ".join(parts) if parts else "Updated"
    if topic == "opportunity.created":
        return "created", f"Opportunity {_v(payload, 'name')} created in {_v(payload, 'stage')}"
    if topic == "customer.created":
        return "created", f"Customer {_v(payload, 'name')} created"
    if topic == "contact.created":
        return "contact_added", f"Contact {_v(payload, 'name')} added"
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
        return "meeting", f"Meeting: {_v(payload, 'title')} ({payload.get('actionItems', 0)} action items)"
    if topic == "action_item.assigned":
        due = f", due {str(payload['dueAt'])[:10]}" if payload.get("dueAt") else ""
        return "action_item", f"Action item: {_v(payload, 'title')}{due}"
    if topic == "action_item.updated":
        status = _dict(payload, "changes").get("status")
        if isinstance(status, list) and len(status) == 2:
            return "action_item", f"Action item {_v(payload, 'title')}: {_shown(status[0])} → {_shown(status[1])}"
        return "action_item", f"Action item {_v(payload, 'title')} changed"
    if topic == "action_item.reminder":
        due = str(payload.get("dueAt") or "")[:16]
        return "reminder", f"Reminder: {_v(payload, 'title')}" + _part(" is due {}", due)
    if topic.startswith("follow_up."):
        return _follow_up(topic, payload)
    if topic == "ticket.handed_off":  # the department and why, for whoever may read the ticket's queue
        queue = f"the {payload['department']} queue" if payload.get("department") else "another queue"
        return "handed_off", f"Handed off to {queue}" + _part(": {}", payload.get("reason"))
    if topic == "intent.high":  # the level and score only for whoever may read the customer's intent
        level = _part(" shows {} intent", payload.get("level")) or ": buying signals"
        return "intent", f"{_v(payload, 'name')}{level}" + _part(" (score {})", payload.get("score"))
    if topic == "sla.escalated":
        what = payload.get("title") or payload.get("number") or payload.get("name") or "an item"
        return "escalation", f"Escalated (level {_v(payload, 'level')}): {what} is overdue"
    if topic in _SLA_CLOCK:  # an SLA policy's clock moved, or ran past its target
        what = payload.get("name") or "this record"
        if topic in ("sla.started", "sla.breached"):
            return "sla", _SLA_CLOCK[topic].format(what) + _part(
                " is past its {} h target" if topic == "sla.breached" else " ({} h target)", payload.get("targetHours"))
        return "sla", _SLA_CLOCK[topic].format(what) + _part(" ({} h of {} h)", payload.get("elapsedHours"),
                                                             payload.get("targetHours"))
    if topic == "lead.converted":
        return "converted", "Lead converted to customer, contact and opportunity"
    if topic.endswith((".archived", ".restored")):
        what = topic.rsplit(".", 1)[-1]
        return what, f"{record_type} {what}" + (" (out of lists and search)" if what == "archived" else "")
    if topic.startswith(("quote.", "contract.", "invoice.", "credit_note.", "payment.")):
        return _quote_to_cash(topic, payload)
    if topic.startswith(("project.", "task.", "time.", "timesheet.", "expense.", "change.")):
        return _delivery(topic, payload)
    if topic == "record.shared":
        return "shared", "Shared"
    if topic in ("workflow.notified", "workflow.escalated"):
        values = _dict(payload, "values")
        return "automation", fill(str(payload.get("template") or payload.get("rule") or "Workflow rule"), values)
    return topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()


_SLA_CLOCK = {"sla.started": "SLA started: {}", "sla.paused": "SLA paused: {}", "sla.resumed": "SLA resumed: {}",
              "sla.met": "SLA met: {}", "sla.stopped": "SLA stopped: {}", "sla.breached": "SLA breached: {}"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][\w.]*)\s*\}\}")


def fill(template: str, values: dict[str, Any], *, missing: str = "—") -> str:
    """A workflow rule's ``{{field}}`` template filled in from ``values`` (by field path), already cut to
    what the reader may read: a field missing from them shows as ``missing``."""
    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return missing if value is None or value == "" else str(value)
    return _PLACEHOLDER.sub(one, template)


def _v(payload: dict[str, Any], key: str) -> str:
    """A value for a sentence; a dash where the reader may not see it (or it is unset)."""
    value = payload.get(key)
    return "—" if value is None or value == "" else str(value)


def _dict(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


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


def _follow_up(topic: str, p: dict[str, Any]) -> tuple[str, str]:
    note = _part(": {}", p.get("note"))
    due = _part(" (due {})", str(p.get("dueAt") or "")[:16].replace("T", " "))
    texts = {
        "follow_up.scheduled": f"Follow-up scheduled{due}{note}",
        "follow_up.rescheduled": f"Follow-up moved{due}{note}",
        "follow_up.completed": f"Follow-up done{note}",
        "follow_up.cancelled": f"Follow-up cancelled{note}",
        "follow_up.due": f"Follow-up due now{note}",
    }
    return ("reminder" if topic == "follow_up.due" else "follow_up"), texts.get(topic, "Follow-up")


def _quote_to_cash(topic: str, p: dict[str, Any]) -> tuple[str, str]:
    quote = f"Quote {_v(p, 'number')} rev {_v(p, 'revision')}"
    contract = f"Contract {_v(p, 'number')}"
    invoice = f"Invoice {p.get('number') or '(draft)'}"
    step = _dict(p, "step")
    signer = _dict(p, "signer")
    texts = {
        "quote.created": ("quote", f"{quote} drafted{_money(p)}"),
        "quote.updated": ("quote", f"{quote} edited{_money(p)}"),
        "quote.submitted": ("approval", f"{quote} submitted for approval"
                                        + _part(" (max discount {} %)", p.get("maxDiscountPercent"))),
        "quote.approved": ("approval", f"{quote} approved" + (f": {p['comment']}" if p.get("comment") else "")),
        "quote.rejected": ("approval", f"{quote} rejected: {_v(p, 'comment')}"),
        "quote.sent": ("quote", f"{quote} sent to the customer"),
        "quote.accepted": ("quote", f"{quote} accepted{_money(p)}"),
        "quote.declined": ("quote", f"{quote} declined" + (f": {p['reason']}" if p.get("reason") else "")),
        "quote.revised": ("quote", f"{quote} drafted as a new revision"),
        "contract.created": ("contract", f"{contract} drafted{_money(p, 'amount')}"),
        "contract.updated": ("contract", f"{contract} edited"),
        "contract.amendment_created": ("contract", f"{contract} drafted as an amendment: {_v(p, 'reason')}"),
        "contract.submitted": ("approval", f"{contract} submitted; step 1 awaits a {_v(step, 'role')}"),
        "contract.step_approved": ("approval", f"{contract}: step {_v(step, 'position')} ({_v(step, 'role')}) "
                                               "approved"),
        "contract.approved": ("approval", f"{contract} approved, ready for signatures"),
        "contract.rejected": ("approval", f"{contract} rejected at step {_v(step, 'position')} ({_v(step, 'role')}): "
                                          f"{_v(p, 'reason')}"),
        "contract.signature_requested": ("signature", f"{contract}: signature requested from {_v(signer, 'name')}"),
        "contract.signed": ("signature", f"{contract} signed by {_v(signer, 'name')} ({_v(signer, 'party')})"),
        "contract.activated": ("contract", f"{contract} signed by every party: active"),
        "contract.superseded": ("contract", f"{contract} superseded by its amendment"),
        "contract.terminated": ("contract", f"{contract} terminated as of {_v(p, 'effectiveOn')}: {_v(p, 'reason')}"),
        "contract.payment_plan_set": ("payment_plan", f"{contract}: payment plan set"
                                                      + _part(" ({} installments)", len(p["installments"])
                                                              if isinstance(p.get("installments"), list) else None)),
        "contract.milestone_reached": ("payment_plan", f"{contract}: milestone {_v(p, 'milestone')} reached"),
        "invoice.drafted": ("invoice", f"Invoice drafted{_money(p)}"),
        "invoice.issued": ("invoice", f"{invoice} issued{_money(p)}" + _part(", due {}", p.get("dueDate"))),
        "invoice.voided": ("invoice", f"{invoice} voided: {_v(p, 'reason')}"),
        "invoice.credited": ("invoice", f"{invoice} credited{_money(p, 'amount', ' ')}"),
        "invoice.payment_allocated": ("payment", f"{invoice}: payment{_money(p, 'amount', ' of ')} applied"
                                                 + _part(", {} outstanding", p.get("outstanding"))),
        "invoice.allocation_reversed": ("payment", f"{invoice}: payment{_money(p, 'amount', ' of ')} reversed"
                                                   + _part(" ({})", p.get("reason"))),
        "invoice.overdue": ("reminder", f"{invoice} is overdue" + _money(p, "outstanding")
                                        + _part(" due {}", p.get("dueDate"))),
        "credit_note.issued": ("invoice", f"Credit note {_v(p, 'number')} issued{_money(p)}"),
        "payment.recorded": ("payment", f"Payment received from {_v(p, 'payerName')}{_money(p, 'amount')}"),
        "payment.allocated": ("payment", f"Payment{_money(p, 'amount', ' of ')} allocated"),
        "payment.allocation_reversed": ("payment", "Payment allocation reversed"),
        "payment.matched": ("payment", f"Payment from {_v(p, 'payerName')} matched to a customer"),
    }
    return texts.get(topic, (topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()))


def _delivery(topic: str, p: dict[str, Any]) -> tuple[str, str]:
    project = f"Project {_v(p, 'number')}"
    task = _dict(p, "task").get("name") or "(a task)"
    change = _dict(p, "change")
    dependency = _dict(p, "dependency")
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
        "task.delay_risk": ("risk", f"Task {task} is forecast {_v(p, 'daysLate')} days late"),
        "task.dependency_added": ("task", f"{_v(dependency, 'successor')} now waits for "
                                          f"{_v(dependency, 'predecessor')}"),
        "task.dependency_removed": ("task", f"{_v(dependency, 'successor')} no longer waits for "
                                            f"{_v(dependency, 'predecessor')}"),
        "time.logged": ("time", _part("{} h ", p.get("hours")) + f"logged on {task}" + _part(" ({})", p.get("date"))),
        "timesheet.submitted": ("time", f"Timesheet for the week of {_v(p, 'weekStart')} submitted"
                                        + _part(" ({} h)", p.get("hours"))),
        "timesheet.approved": ("time", f"Timesheet for the week of {_v(p, 'weekStart')} approved"),
        "timesheet.rejected": ("time", f"Timesheet for the week of {_v(p, 'weekStart')} sent back: "
                                       f"{_v(p, 'comment')}"),
        "expense.added": ("expense", "Expense" + _money(p, "amount", " ") + _part(": {}", p.get("description"))),
        "change.requested": ("change", f"Change requested: {_v(change, 'title')} ("
                                       + _part("budget {}, ", change.get("budgetDelta"))
                                       + f"schedule {_v(change, 'scheduleDeltaDays')} days)"),
        "change.manager_approved": ("change", f"Change {_v(change, 'title')} approved by the project manager; "
                                              "a sales manager decides next"),
        "change.approved": ("change", f"Change {_v(change, 'title')} approved: budget and dates adjusted"),
        "change.rejected": ("change", f"Change {_v(change, 'title')} rejected: {_v(p, 'reason')}"),
    }
    return texts.get(topic, (topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()))
