"""Custom field definitions. Who may read (and write) a custom field is the org policy's
``Type.customFields.<key>``: ``visibleToRoles`` is written there, and read back from there, so the field guard,
the event filter and the writes check apply it as they apply every field."""

from __future__ import annotations

import strawberry

from tandem.authz import admin
from tandem.authz.guard import Guard
from tandem.domain.pipeline import custom_field as service
from tandem.domain.pipeline.errors import PipelineErrorCode
from tandem.domain.shared.errors import ValidationFailed
from tandem.domain.tenancy.user import ROLES
from tandem.schema.custom_field import (
    CustomFieldDefinition,
    CustomFieldObjectType,
    CustomFieldPayload,
    DefineCustomFieldInput,
)

from .mutation import run
from .pipeline import CONFIGURE
from .writes import Writes


def _field(definition: service.CustomFieldDefinition) -> tuple[str, str]:
    return service.OBJECT_TYPES[definition.entity], f"customFields.{definition.key}"


def visible_to(guard: Guard, definition: service.CustomFieldDefinition) -> list[str]:
    """The roles the org's policy lets read the field now."""
    return [role for role in ROLES if Guard(guard.policy, frozenset({role})).can_read(*_field(definition))]


@strawberry.type
class CustomFieldQuery:
    @strawberry.field(description="The custom fields of a kind of record that you may read, oldest first.")
    async def custom_field_definitions(self, info: strawberry.Info,
                                       object_type: CustomFieldObjectType) -> list[CustomFieldDefinition]:
        ctx = info.context
        guard = ctx.authz
        async with ctx.read() as session:
            found = await service.list_definitions(session, ctx.actor.org_id, object_type.value)
        return [CustomFieldDefinition.from_model(d, visible_to(guard, d)) for d in found if guard.can_read(*_field(d))]


@strawberry.type
class CustomFieldMutation:
    @Writes(None, needs=(CONFIGURE, ("Policy", "manage")))
    @strawberry.mutation(description="Define a custom field of customers, opportunities, leads or contacts, or "
                                     "change one (admin only); `visibleToRoles` sets who may read and write it in "
                                     "the org policy.")
    async def define_custom_field(self, info: strawberry.Info, input: DefineCustomFieldInput) -> CustomFieldPayload:
        ctx = info.context
        actor = ctx.actor
        roles = None if input.visible_to_roles is None else [r.strip() for r in input.visible_to_roles]

        async def work(session):
            unknown = [r for r in roles or () if r not in ROLES]
            if unknown:
                raise ValidationFailed.one("visibleToRoles", PipelineErrorCode.UNKNOWN_ROLE,
                                           f"{', '.join(map(repr, unknown))} is not one of {', '.join(ROLES)}")
            definition = await service.define_custom_field(
                session, actor.org_id, entity=input.object_type.value, key=input.key, label=input.label,
                type=input.type.domain, choices=input.options, required=input.required, actor=actor)
            record_type, field = _field(definition)
            await admin.restrict_field(session, actor, resource=f"{record_type}.{field}",
                                       visible_to=None if roles is None else frozenset(roles), roles=ROLES)
            return definition

        definition = None

        def payload(result=None, user_errors=None) -> CustomFieldPayload:
            nonlocal definition
            definition = result
            return CustomFieldPayload(user_errors=user_errors or [])

        answer = await run(info, work, payload)
        if definition is None:
            return answer
        if ctx.on_policy_change is not None:
            await ctx.on_policy_change(actor.org_id)
        # read back from the policy as it is now (the request's own guard holds the policy it started with)
        guard = Guard(await ctx.policies.for_org(actor.org_id), ctx.authz.roles) if ctx.policies else ctx.authz
        return CustomFieldPayload(custom_field=CustomFieldDefinition.from_model(definition,
                                                                                visible_to(guard, definition)))
