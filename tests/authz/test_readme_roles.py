"""The README's role table describes the policy every new org is seeded with."""

from pathlib import Path

import casbin
import pytest

from tandem.authz.policy import OrgPolicy
from tandem.authz.store import MODEL_CONF, default_lines

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
ROLES = ("admin", "sales_rep", "sales_manager", "finance", "service", "marketing", "project_manager")
SCOPED = ("Customer", "Lead", "Opportunity")
CREATABLE = ("Customer", "Contact", "Interaction", "Lead", "Opportunity")
HIDEABLE = ("Customer.creditLimit", "Contact.phone", "Contact.email", "Opportunity.amount",
            "Opportunity.customFields", "Opportunity.nextStep")


def _readme_rows() -> dict[str, list[str]]:
    table = README.split("| role | Customer rows |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def _seeded_policy() -> OrgPolicy:
    enforcer = casbin.Enforcer(str(MODEL_CONF))
    for ptype, values in default_lines(1):
        if ptype == "p":
            enforcer.add_policy(*values)
        else:
            enforcer.add_grouping_policy(*values)
    return OrgPolicy(1, 1, enforcer)


@pytest.mark.parametrize("role", ROLES)
def test_readme_role_row_matches_the_default_policy(role):
    # given the row the README shows for the role, and the policy a new org gets
    row = _readme_rows()[role]
    policy = _seeded_policy()
    roles = frozenset({role})
    # then the row scopes are the policy's
    assert row[:3] == [policy.scope(roles, t).value for t in SCOPED]
    # and the types it may create are the policy's
    creates = [t for t in CREATABLE if policy.allowed(roles, t, "create")]
    assert row[3] == ("everything" if role == "admin" else ", ".join(creates) or "—")
    # and every field the policy hides from it is named, and no other
    hidden = [f for f in HIDEABLE if not policy.allowed(roles, f, "read")]
    assert [f.strip() for f in row[4].split(",") if f.strip() != "—"] == hidden


Q2C_TYPES = ("Product", "Quote", "Contract", "Invoice", "Payment")
Q2C_ACTIONS = ("create", "update", "approve", "plan", "terminate", "issue", "void", "credit", "allocate",
               "receivables")
Q2C_HIDEABLE = ("Contract.amount", "Contract.paymentPlan")


def _q2c_rows() -> dict[str, list[str]]:
    table = README.split("| role | Product rows |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize("role", ROLES)
def test_readme_quote_to_cash_row_matches_the_default_policy(role):
    # given the README's quote-to-cash row for the role, and the policy a new org gets
    row = _q2c_rows()[role]
    policy = _seeded_policy()
    roles = frozenset({role})
    # then the row scopes are the policy's
    assert row[:5] == [policy.scope(roles, t).value for t in Q2C_TYPES]
    # and the actions it may take are the policy's
    actions = []
    for type_name in ("Product", "PriceBook", *Q2C_TYPES[1:]):
        allowed = [a for a in Q2C_ACTIONS if policy.allowed(roles, type_name, a)]
        if allowed:
            actions.append(f"{type_name}: {', '.join(allowed)}")
    assert row[5] == ("everything" if role == "admin" else "; ".join(actions) or "—")
    # and the contract fields it may not read (when it sees contracts at all) are named
    sees_contracts = policy.scope(roles, "Contract").value != "none"
    hidden = [f for f in Q2C_HIDEABLE if sees_contracts and not policy.allowed(roles, f, "read")]
    assert [f.strip() for f in row[6].split(",") if f.strip() != "—"] == hidden


DELIVERY_ACTIONS = (("Project", "update"), ("Task", "create"), ("TimeEntry", "create"), ("ProjectTemplate", "create"),
                    ("ChangeRequest", "create"))
DELIVERY_HIDEABLE = ("Project.costs", "TimeEntry.cost", "User.costRate")


def _delivery_rows() -> dict[str, list[str]]:
    table = README.split("| role | Project rows |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize("role", ROLES)
def test_readme_delivery_row_matches_the_default_policy(role):
    # given the README's delivery row for the role, and the policy a new org gets
    row = _delivery_rows()[role]
    policy = _seeded_policy()
    roles = frozenset({role})
    # then the project scope and the time-entry reach are the policy's
    time_scope = policy.scope(roles, "TimeEntry").value
    assert row[:2] == [policy.scope(roles, "Project").value, "org" if time_scope == "org" else "own + managed"]
    # and the actions and hidden fields are
    actions = [f"{t} {a}" for t, a in DELIVERY_ACTIONS if policy.allowed(roles, t, a)]
    assert row[2] == ("everything" if role == "admin" else ", ".join(actions) or "—")
    hidden = [f for f in DELIVERY_HIDEABLE if not policy.allowed(roles, f, "read")]
    assert [f.strip() for f in row[3].split(",") if f.strip() != "—"] == hidden


SERVICE_DESK_HIDEABLE = ("Ticket.contact", "Ticket.internalNotes")


def _service_desk_rows() -> dict[str, list[str]]:
    table = README.split("| role | Ticket rows |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize("role", ROLES)
def test_readme_service_desk_row_matches_the_default_policy(role):
    # given the README's service desk row for the role, and the policy a new org gets
    row = _service_desk_rows()[role]
    policy = _seeded_policy()
    roles = frozenset({role})
    # then the ticket scope, the actions and the hidden fields (of tickets it sees) are the policy's
    scope = policy.scope(roles, "Ticket").value
    assert row[0] == scope
    actions = [a for a in ("create", "update") if policy.allowed(roles, "Ticket", a)]
    assert row[1] == ("everything" if role == "admin" else f"Ticket {', '.join(actions)}" if actions else "—")
    hidden = [f for f in SERVICE_DESK_HIDEABLE if scope != "none" and not policy.allowed(roles, f, "read")]
    assert [f.strip() for f in row[2].split(",") if f.strip() != "—"] == hidden
