"""Policy edits by an admin, in the caller's transaction, through the Casbin adapter. Each edit
bumps the org's policy version (every process polls it) and writes an outbox event."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.shared.actor import Actor
from tandem.domain.shared.errors import SharedErrorCode, ValidationFailed
from tandem.domain.shared.outbox import record_event
from tandem.domain.shared.scope import Scope

from .store import CasbinRule, OrgAdapter, bump_version, seed_default_policy

TYPE_ACTIONS = ("create", "update", "delete", "share", "approve", "plan", "terminate", "issue", "void", "credit",
                "allocate", "receivables", "publish")
FIELD_ACTIONS = ("read", "write")
SCOPE_ACTIONS = tuple(f"read:{s.value}" for s in (Scope.OWN, Scope.TEAM, Scope.ORG))
ROLE_NAME_MAX = 60


def _check_role(role: str) -> str:
    role = role.strip()
    if not role or len(role) > ROLE_NAME_MAX or not role.replace("_", "").isalnum():
        raise ValidationFailed.one("role", SharedErrorCode.INVALID, "a role is letters, digits and _ (up to 60)")
    return role


async def _changed(session: AsyncSession, actor: Actor, payload: dict) -> None:
    await bump_version(session, actor.org_id)
    record_event(session, actor, org_id=actor.org_id, topic="policy.changed", record_type="Org",
                 record_id=actor.org_id, operation="update", payload=payload)


async def set_permission(
    session: AsyncSession, actor: Actor, *, role: str, resource: str, action: str, effect: str | None,
    known_fields: dict[str, set[str]],
) -> None:
    """Allow or deny ``action`` on ``resource`` (``Type`` or ``Type.field``) for ``role``;
    ``effect=None`` removes the explicit rule so the role falls back to the rest of the policy."""
    role = _check_role(role)
    record_type, _, field = resource.partition(".")
    if record_type not in known_fields or (field and field != "*" and field not in known_fields[record_type]):
        raise ValidationFailed.one("resource", SharedErrorCode.INVALID,
                                   f"{resource!r} is not a record type or one of its fields")
    allowed_actions = FIELD_ACTIONS if field else TYPE_ACTIONS + SCOPE_ACTIONS
    if action not in allowed_actions:
        raise ValidationFailed.one("action", SharedErrorCode.INVALID,
                                   f"{action!r} is not one of {', '.join(allowed_actions)} for {resource}")
    await seed_default_policy(session, actor.org_id)
    org = str(actor.org_id)
    await session.execute(delete(CasbinRule).where(
        CasbinRule.ptype == "p", CasbinRule.v0 == role, CasbinRule.v1 == org, CasbinRule.v2 == resource,
        CasbinRule.v3 == action))
    if effect is not None:
        adapter = OrgAdapter(session.get_bind(), actor.org_id, session=session)
        await adapter.add_policy("p", "p", [role, org, resource, action, effect])
        await session.flush()
    await _changed(session, actor, {"role": role, "resource": resource, "action": action, "effect": effect})


async def set_row_scope(session: AsyncSession, actor: Actor, *, role: str, record_type: str, scope: Scope,
                        known_types: set[str]) -> None:
    role = _check_role(role)
    if record_type not in known_types:
        raise ValidationFailed.one("type", SharedErrorCode.INVALID, f"{record_type!r} has no row scope")
    await seed_default_policy(session, actor.org_id)
    org = str(actor.org_id)
    await session.execute(delete(CasbinRule).where(
        CasbinRule.ptype == "p", CasbinRule.v0 == role, CasbinRule.v1 == org, CasbinRule.v2 == record_type,
        CasbinRule.v3.in_(SCOPE_ACTIONS)))
    if scope is not Scope.NONE:
        adapter = OrgAdapter(session.get_bind(), actor.org_id, session=session)
        await adapter.add_policy("p", "p", [role, org, record_type, f"read:{scope.value}", "allow"])
        await session.flush()
    await _changed(session, actor, {"role": role, "type": record_type, "scope": scope.value})


async def restrict_field(session: AsyncSession, actor: Actor, *, resource: str, visible_to: frozenset[str] | None,
                         roles: tuple[str, ...]) -> None:
    """Who may read and write ``resource`` (a ``Type.field.key``, e.g. a custom field): every role of ``roles``
    outside ``visible_to`` gets an explicit read and write deny, which wins over its ``Type.*`` allows (and
    ``admin``, who configures it, keeps it); ``visible_to=None`` drops those denies, so the rest of the policy
    decides as for any other field."""
    await seed_default_policy(session, actor.org_id)
    org = str(actor.org_id)
    await session.execute(delete(CasbinRule).where(
        CasbinRule.ptype == "p", CasbinRule.v1 == org, CasbinRule.v2 == resource, CasbinRule.v3.in_(FIELD_ACTIONS)))
    denied = [] if visible_to is None else [r for r in roles if r != "admin" and r not in visible_to]
    if denied:
        adapter = OrgAdapter(session.get_bind(), actor.org_id, session=session)
        await adapter.add_policies("p", "p", [[role, org, resource, action, "deny"]
                                              for role in denied for action in FIELD_ACTIONS])
        await session.flush()
    await _changed(session, actor, {"resource": resource, "action": "read", "effect": "deny" if denied else None,
                                    "role": ",".join(denied) or None})
