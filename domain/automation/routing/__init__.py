"""Lead and opportunity routing: an org's ordered assignment rules give a new record its owner.

A lead, or an opportunity created without an owner, is routed when its area announces it (``LeadCreated``,
``OpportunityCreated``): the org's rules for that kind of record are tried in order and the first whose
conditions hold picks an owner among its members (listed, or a team's) by its method:

- ``ROUND_ROBIN``: the next member in turn. The turn is a counter on the rule row, read and advanced under
  the row's lock (``FOR UPDATE`` on PostgreSQL; SQLite serializes writers), so parallel creations take
  consecutive turns and the members' counts never differ by more than one;
- ``LOAD_BALANCED``: the member with the fewest open records for their ``User.capacity``;
- ``TERRITORY``: a member whose ``User.territory`` names the record's region, industry or customer tier.

Members who are inactive, on leave (``setAvailability``, when the rule skips the unavailable) or at capacity
(when the rule respects it) are passed over. When the matching rule finds nobody, the org's fallback owner
takes the record, or else its creator keeps it, and the reason says so (code ``NO_ELIGIBLE_ASSIGNEE``). When no
rule matches, the fallback owner takes it; without one, nothing is routed (nor is anything in an org without
rules).

Every routing is an ``Assignment`` row (rule, method, human reason, time) the record shows as its
``assignment``, and a ``<record>.assigned`` event on its timeline and in the change feed, addressed to the
new owner. A rule with ``responseHours`` gives a lead that long to be touched (a status change, any edit,
a comment by its owner); ``run_lead_response`` (the scheduler) hands an untouched one to the rule's next
eligible member and tells the previous owner's manager.

Conditions are a small JSON form of their own: a list of ``{"field": f, "eq": v}`` or ``{"field": f,
"in": [v, ...]}`` clauses that must all hold, compared as text without regard to case, over the fields
``ROUTING_FIELDS`` names for each kind of record.
"""

from __future__ import annotations

from .config import (
    AssignmentRuleInput,
    assignment_fallback,
    assignment_rules,
    availability_of,
    check_conditions,
    conditions_hold,
    create_assignment_rule,
    delete_assignment_rule,
    reorder_assignment_rules,
    set_assignment_fallback,
    set_availability,
    update_assignment_rule,
)
from .engine import Choice, assign_by_rule, assignments_of, choose, open_counts, route, territories, territory_match
from .model import (
    ROUTING_FIELDS,
    TERRITORY_FIELDS,
    Assignment,
    AssignmentFallback,
    AssignmentMethod,
    AssignmentRule,
    RoutedType,
    UserAvailability,
)
from .sla import run_lead_response

__all__ = [
    "ROUTING_FIELDS", "TERRITORY_FIELDS", "Assignment", "AssignmentFallback", "AssignmentMethod", "AssignmentRule",
    "AssignmentRuleInput", "Choice", "RoutedType", "UserAvailability", "assign_by_rule", "assignment_fallback",
    "assignment_rules",
    "assignments_of", "availability_of", "check_conditions", "choose", "conditions_hold", "create_assignment_rule",
    "delete_assignment_rule", "open_counts", "reorder_assignment_rules", "route", "run_lead_response",
    "set_assignment_fallback", "set_availability", "territories", "territory_match", "update_assignment_rule",
]
