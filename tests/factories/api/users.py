"""The seeded demo users, by email, and their global ids."""

from __future__ import annotations

from typing import Any

from tandem.schema.node import to_global_id

REP1, REP2, MANAGER, FINANCE = "rep1@demo.test", "rep2@demo.test", "manager@demo.test", "finance@demo.test"
ADMIN, PM, SERVICE, MARKETING = "admin@demo.test", "pm@demo.test", "service@demo.test", "marketing@demo.test"
ACME_ADMIN, ACME_REP = "admin@acme.test", "rep@acme.test"
DEMO_USERS = (ADMIN, MANAGER, REP1, REP2, PM, FINANCE, SERVICE, MARKETING)


def user_id(gql: Any, email: str) -> str:
    """The global id of a seeded user."""
    return to_global_id("User", gql.users[email].id)
