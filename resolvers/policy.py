"""Admin API: roles, managers, permissions, row scopes, sharing; and `myPermissions`."""

from __future__ import annotations

import strawberry

from tandem.authz import admin
from tandem.authz.admin import TYPE_ACTIONS
from tandem.authz.store import current_version
from tandem.domain.registry import GUARDED_TYPES, OWNED_TYPES
from tandem.domain.shared.errors import NotFound
from tandem.domain.shared.scope import Scope
from tandem.domain.tenancy.sharing import share_record
from tandem.domain.tenancy.user import set_cost_rate, set_manager, set_roles
from tandem.schema.node import decode_id, from_global_id
from tandem.schema.policy import (
    AssignRoleInput,
    PermissionEffect,
    PolicyPayload,
    SetCostRateInput,
    SetManagerInput,
    SetPermissionInput,
    SetRowScopeInput,
    SharePayload,
    ShareRecordInput,
    TypePermissions,
    UserPayload,
)
from tandem.schema.user import User

from .guard import graphql_fields
from .mutation import opt_id, run
from .writes import acts, row_rule, writes

ACTIONS = TYPE_ACTIONS


def _fields(info: strawberry.Info, type_name: str) -> list[str]:
    return graphql_fields(info.schema, type_name)


def _known_fields(info: strawberry.Info) -> dict[str, set[str]]:
    return {t: set(_fields(info, t)) for t in GUARDED_TYPES}


def _user_payload(m=None, user_errors=None) -> UserPayload:
    return UserPayload(user=User.from_model(m) if m else None, user_errors=user_errors or [])


def _policy_payload(version=None, user_errors=None) -> PolicyPayload:
    return PolicyPayload(policy_version=version, user_errors=user_errors or [])


async def _policy_changed(info: strawberry.Info, org_id: int) -> None:
    ctx = info.context
    if ctx.on_policy_change is not None:
        await ctx.on_policy_change(org_id)


@strawberry.type
class PolicyQuery:
    @strawberry.field(description="Per record type: row scope, allowed actions, readable and writable fields.")
    async def my_permissions(self, info: strawberry.Info) -> list[TypePermissions]:
        guard = info.context.authz
        out = []
        for type_name in sorted(GUARDED_TYPES):
            fields = _fields(info, type_name)
            out.append(TypePermissions(
                type=type_name, scope=guard.scopes[type_name],
                actions=[a for a in ACTIONS if guard.can(type_name, a)],
                readable_fields=guard.readable(type_name, fields),
                writable_fields=[f for f in guard.writable(type_name, fields) if f not in ("id", "version")],
            ))
        return out


@strawberry.type
class PolicyMutation:
    @writes("User", needs=[("Policy", "manage")], fields={"user_id": None, "role": "User.roles"})
    @strawberry.mutation(description="Give a user a role (admin only).")
    async def assign_role(self, info: strawberry.Info, input: AssignRoleInput) -> UserPayload:
        actor = info.context.actor
        pk = decode_id("User", input.user_id)
        return await run(info, lambda s: set_roles(s, actor, pk, add=input.role.strip()), _user_payload)

    @writes("User", needs=[("Policy", "manage")], fields={"user_id": None, "role": "User.roles"})
    @strawberry.mutation(description="Take a role from a user (admin only); the org keeps one admin.")
    async def revoke_role(self, info: strawberry.Info, input: AssignRoleInput) -> UserPayload:
        actor = info.context.actor
        pk = decode_id("User", input.user_id)
        return await run(info, lambda s: set_roles(s, actor, pk, remove=input.role.strip()), _user_payload)

    @writes("User", fields={"user_id": None})
    @strawberry.mutation(description="A user's labor cost per hour (finance): time logged afterwards is costed at "
                                     "it.")
    async def set_cost_rate(self, info: strawberry.Info, input: SetCostRateInput) -> UserPayload:
        actor = info.context.actor
        pk = decode_id("User", input.user_id)
        return await run(info, lambda s: set_cost_rate(s, actor, pk, input.cost_rate), _user_payload)

    @writes("User", needs=[("Policy", "manage")], fields={"user_id": None})
    @strawberry.mutation(description="Put a user under another manager (admin only); team scopes follow.")
    async def set_manager(self, info: strawberry.Info, input: SetManagerInput) -> UserPayload:
        actor = info.context.actor
        pk = decode_id("User", input.user_id)
        manager = opt_id("User", input.manager_id)
        return await run(info, lambda s: set_manager(s, actor, pk, manager), _user_payload)

    @acts("Policy", "manage")
    @strawberry.mutation(description="Allow, deny or reset an action on a type or `Type.field` for a role.")
    async def set_permission(self, info: strawberry.Info, input: SetPermissionInput) -> PolicyPayload:
        actor = info.context.actor
        effect = None if input.effect is PermissionEffect.INHERIT else input.effect.value
        known = _known_fields(info)

        async def work(session):
            await admin.set_permission(session, actor, role=input.role, resource=input.resource.strip(),
                                       action=input.action.strip(), effect=effect, known_fields=known)
            return await current_version(session, actor.org_id)

        payload = await run(info, work, _policy_payload)
        if not payload.user_errors:
            await _policy_changed(info, actor.org_id)
        return payload

    @acts("Policy", "manage")
    @strawberry.mutation(description="Set which rows of a type a role sees: NONE, OWN, TEAM or ORG.")
    async def set_row_scope(self, info: strawberry.Info, input: SetRowScopeInput) -> PolicyPayload:
        actor = info.context.actor

        async def work(session):
            await admin.set_row_scope(session, actor, role=input.role, record_type=input.type.strip(),
                                      scope=Scope(input.scope), known_types=set(OWNED_TYPES))
            return await current_version(session, actor.org_id)

        payload = await run(info, work, _policy_payload)
        if not payload.user_errors:
            await _policy_changed(info, actor.org_id)
        return payload

    @row_rule("the share action on the record's type, asked once the id names the type")
    @strawberry.mutation(description="Share a customer, lead, opportunity, quote, contract or invoice you can see "
                                     "with a user or a team.")
    async def share_record(self, info: strawberry.Info, input: ShareRecordInput) -> SharePayload:
        ctx = info.context
        actor = ctx.actor
        type_name, pk = from_global_id(input.record_id)
        if type_name not in OWNED_TYPES:
            raise NotFound(type_name, input.record_id)
        ctx.authz.require(type_name, "share")
        if await ctx.loaders.of(type_name).load(pk) is None:
            raise NotFound(type_name, input.record_id)
        user_id = opt_id("User", input.user_id)
        team_id = opt_id("Team", input.team_id)

        async def work(session):
            await share_record(session, actor, record_type=type_name, record_id=pk, user_id=user_id,
                               team_id=team_id)
            return input.record_id

        return await run(info, work, lambda rid=None, user_errors=None: SharePayload(
            record_id=rid, user_errors=user_errors or []))
