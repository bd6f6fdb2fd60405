"""Who acts: every service call names its actor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .scope import Scope


@dataclass(frozen=True, slots=True)
class Actor:
    """A user acting in their org.

    ``scopes`` holds the row scope per record type that authorization decided for this actor
    (``Scope.OWN``, ``TEAM``, ``ORG`` or ``NONE``); ``None`` means the whole org, for system work
    (seeding, jobs) and for rules tested without authorization.
    """

    user_id: int
    org_id: int
    roles: frozenset[str] = field(default_factory=frozenset)
    email: str = ""
    team_id: int | None = None
    scopes: Mapping[str, Scope] | None = None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def scope(self, record_type: str) -> Scope:
        if self.scopes is None:
            return Scope.ORG
        return self.scopes.get(record_type, Scope.NONE)
