"""Row scope levels: which rows of a type an actor may see.

own  - rows the actor owns;
team - rows owned by the actor or anyone below them in the management chain (any depth);
org  - every row of the org;
none - no rows.
Rows shared explicitly with the actor (or their team) are visible on top of any scope. The SQL that
applies a scope (the management chain, the shares) is tenancy's: domain/tenancy/scope.py.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    NONE = "none"
    OWN = "own"
    TEAM = "team"
    ORG = "org"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Scope.NONE: 0, Scope.OWN: 1, Scope.TEAM: 2, Scope.ORG: 3}
