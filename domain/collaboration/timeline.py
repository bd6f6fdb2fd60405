"""How each outbox event reads on a shared timeline: its kind and a human-readable summary.
All timeline wording lives here (one module, not scattered across features)."""

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
        parts = [f"{FIELD_LABELS.get(k, k)}: {before} → {after}" for k, (before, after) in changes.items()]
        return "updated", "Changed " + "; ".join(parts) if parts else "Updated"
    if topic == "opportunity.created":
        return "created", f"Opportunity {payload.get('name')} created in {payload.get('stage')}"
    if topic == "customer.created":
        return "created", f"Customer {payload.get('name')} created"
    if topic == "contact.created":
        return "contact_added", f"Contact {payload.get('name')} added"
    if topic == "interaction.logged":
        return "interaction", f"{str(payload.get('kind', '')).replace('_', ' ').capitalize()}: {payload.get('summary')}"
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
        return "escalation", f"Escalated (level {payload.get('level')}): {payload.get('title')} is overdue"
    if topic == "lead.converted":
        return "converted", "Lead converted to customer, contact and opportunity"
    if topic == "record.shared":
        return "shared", "Shared"
    return topic.rsplit(".", 1)[-1], topic.replace(".", " ").replace("_", " ").capitalize()
