"""The one place that decides what an actor may see and do: row scopes per type, readable and
writable fields per type, type-level actions. Queries, nested fields, mutations, subscriptions and
the change feed all ask a Guard; decisions come memoized from the org's policy."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tandem.domain.registry import GUARDED_TYPES, sources
from tandem.domain.shared.errors import Forbidden
from tandem.domain.shared.scope import Scope

from .policy import OrgPolicy

# Fields every visible record shows: identity and concurrency control.
ALWAYS_READABLE = frozenset({"id", "version", "__typename"})


class _Scopes(Mapping[str, Scope]):
    """Row scope per record type, computed on first use."""

    def __init__(self, policy: OrgPolicy, roles: frozenset[str]) -> None:
        self._policy = policy
        self._roles = roles
        self._cache: dict[str, Scope] = {}

    def __getitem__(self, record_type: str) -> Scope:
        found = self._cache.get(record_type)
        if found is None:
            found = self._cache[record_type] = self._policy.scope(self._roles, record_type)
        return found

    def get(self, record_type: str, default: Any = None) -> Scope:  # type: ignore[override]
        return self[record_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)


class Guard:
    def __init__(self, policy: OrgPolicy, roles: frozenset[str]) -> None:
        self.policy = policy
        self.roles = roles
        self.scopes: Mapping[str, Scope] = _Scopes(policy, roles)
        self._read: dict[tuple[str, str], bool] = {}

    def can(self, record_type: str, action: str) -> bool:
        return self.policy.allowed(self.roles, record_type, action)

    def can_read(self, record_type: str, field: str) -> bool:
        """Whether the actor may read ``Type.field``: the policy decides fields of guarded types; a
        field that copies or derives from others (the registry says which) also needs every source."""
        key = (record_type, field)
        found = self._read.get(key)
        if found is None:
            self._read[key] = False  # a derivation that led back here would read as denied
            if field in ALWAYS_READABLE:
                found = True
            else:
                found = record_type not in GUARDED_TYPES or self.policy.field(self.roles, record_type, field, "read")
                parent, dot, _ = field.rpartition(".")
                if dot:  # a field of a field (``customFields.budgetCode``) needs its parent too
                    found = found and self.can_read(record_type, parent)
                found = found and all(self.can_read(*source.split(".", 1)) for source in sources(record_type, field))
            self._read[key] = found
        return found

    def can_write(self, record_type: str, field: str) -> bool:
        parent, dot, _ = field.rpartition(".")
        return (self.policy.field(self.roles, record_type, field, "write")
                and (not dot or self.can_write(record_type, parent)))

    def require(self, record_type: str, action: str) -> None:
        if not self.can(record_type, action):
            raise Forbidden(f"Your role may not {action} {record_type} records.")

    def require_write(self, record_type: str, fields: Iterable[str]) -> None:
        denied = sorted(f for f in fields if not self.can_write(record_type, f))
        if denied:
            raise Forbidden(f"Your role may not write {', '.join(f'{record_type}.{f}' for f in denied)}.")

    def require_read(self, record_type: str, fields: Iterable[str]) -> None:
        """Filters and sort keys over a field need read access to it (else they leak it)."""
        denied = sorted(f for f in fields if not self.can_read(record_type, f))
        if denied:
            raise Forbidden(f"Your role may not read {', '.join(f'{record_type}.{f}' for f in denied)}, "
                            "so it cannot filter or sort by it.")

    def readable(self, record_type: str, fields: Iterable[str]) -> list[str]:
        return [f for f in fields if self.can_read(record_type, f)]

    def writable(self, record_type: str, fields: Iterable[str]) -> list[str]:
        return [f for f in fields if self.can_write(record_type, f)]

    def cut(self, record_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A record's payload with only the fields this actor may read (subscriptions, change feed)."""
        return {k: v for k, v in payload.items() if self.can_read(record_type, k)}


class Unrestricted(Guard):
    """Allows everything within the org: for measuring what authorization costs (bench/authz.py)."""

    def __init__(self) -> None:
        self.roles = frozenset()
        self.scopes = None  # type: ignore[assignment]

    def can(self, record_type: str, action: str) -> bool:
        return True

    def can_read(self, record_type: str, field: str) -> bool:
        return True

    def can_write(self, record_type: str, field: str) -> bool:
        return True
