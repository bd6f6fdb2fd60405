"""Built-in workflow rules: the reminders and notices every org starts with, seeded when an org is created
(an ``OrgCreated`` reaction; orgs from before got the reminders from migration 0021 and the intent notice from
0024). They are ordinary rules (``built_in`` marks them, no author: they act as the system), edited, switched
off or deleted like any other; a rule an org deleted is not seeded again.

- a customer not contacted for 30 days (``lastInteractionAt``, a date the database derives) reminds its
  owner, once per quiet period;
- a contract still in approval or signing reminds its owner 3 days before it ends (``endDate``);
- a quote that can still be accepted reminds its owner 2 days before it expires (``validUntil``);
- a customer crossing into HIGH intent (the ``intent.high`` event, intent.py) tells its owner, live: the only
  way that crossing reaches anyone, so editing the rule's template changes the notice and switching it off
  stops it.

Their names and messages are in Chinese and English, as the org's other built-in texts are."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..shared.actor import Actor
from ..shared.bus import handles
from ..shared.clock import clock
from ..tenancy.events import OrgCreated
from .rule import Trigger, WorkflowRule

BUILT_IN_RULES: tuple[dict[str, Any], ...] = (
    {"name": "客户 30 天未联系提醒 Customer not contacted in 30 days", "object_type": "Customer",
     "trigger": Trigger.DATE_RELATIVE.value,
     "trigger_options": {"dateField": "lastInteractionAt", "offsetHours": 30 * 24},
     "conditions": None,
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "客户「{{name}}」已 30 天未联系，请安排回访。"
                              "{{name}} has not been contacted for 30 days: time for a follow-up."}]},
    {"name": "合同到期前 3 天仍在签署提醒 Contract still in signing 3 days before it ends", "object_type": "Contract",
     "trigger": Trigger.DATE_RELATIVE.value,
     "trigger_options": {"dateField": "endDate", "offsetHours": -3 * 24},
     "conditions": {"field": "status", "op": "in", "value": ["pending_approval", "approved", "signing"]},
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "合同「{{title}}」({{number}}) 3 天后到期，仍未完成签署。"
                              "Contract {{title}} ({{number}}) ends in 3 days and is still not signed."}]},
    {"name": "报价 2 天后过期提醒 Quote expiring in 2 days", "object_type": "Quote",
     "trigger": Trigger.DATE_RELATIVE.value,
     "trigger_options": {"dateField": "validUntil", "offsetHours": -2 * 24},
     "conditions": {"field": "status", "op": "in", "value": ["pending_approval", "approved", "sent"]},
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "报价「{{title}}」({{number}}) 2 天后过期，客户尚未接受。"
                              "Quote {{title}} ({{number}}) expires in 2 days and is not accepted yet."}]},
    {"name": "客户购买意向转高提醒 Customer shows high intent", "object_type": "Customer",
     "trigger": Trigger.EVENT.value, "trigger_options": {"topic": "intent.high"},
     "conditions": None,
     "actions": [{"type": "NOTIFY", "to": ["OWNER"],
                  "template": "客户「{{name}}」购买意向转高，请尽快跟进。"
                              "{{name}} shows high intent: time to follow up."}]},
)
"""Migrations 0021 (the first three) and 0024 (the last) hold copies of these (migrations do not import the
code that changes after them)."""


async def seed_rules(session: AsyncSession, org_id: int) -> list[WorkflowRule]:
    """The built-in rules, added to the org, enabled, first in their record type's order."""
    now = clock.now()
    rules = [WorkflowRule(org_id=org_id, author_id=None, built_in=True, enabled=True, position=0, limited=False,
                          created_at=now, updated_at=now, checked_until=now, **spec) for spec in BUILT_IN_RULES]
    session.add_all(rules)
    await session.flush()
    return rules


@handles(OrgCreated)
async def _seed_new_org(session: AsyncSession, actor: Actor | None, event: OrgCreated) -> None:
    await seed_rules(session, event.org_id)


__all__ = ["BUILT_IN_RULES", "seed_rules"]
