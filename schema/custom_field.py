"""Custom field definitions: typed fields an admin adds to customers, opportunities, leads and contacts."""

from __future__ import annotations

from enum import Enum

import strawberry

from tandem.domain.pipeline.custom_field import CustomFieldDefinition as DefinitionModel
from tandem.domain.pipeline.custom_field import CustomFieldType as DomainType
from tandem.domain.pipeline.custom_field import install_user_ids
from tandem.domain.shared.errors import NotFound

from .errors import UserError
from .node import from_global_id


def _user_pk(value: str) -> int | None:
    """The user a USER field's value names: a user's global id, as every user field of the API gives it."""
    try:
        type_name, pk = from_global_id(value)
    except NotFound:
        return None
    return pk if type_name == "User" else None


install_user_ids(_user_pk)


@strawberry.enum(description="The records that carry custom fields (`customFields`).")
class CustomFieldObjectType(Enum):
    CUSTOMER = "customer"
    OPPORTUNITY = "opportunity"
    LEAD = "lead"
    CONTACT = "contact"


@strawberry.enum(description="A custom field's values: TEXT a string, NUMBER a number, MONEY a decimal string, DATE "
                             "YYYY-MM-DD, BOOL true/false, SELECT one of `options`, MULTISELECT a list of them, USER "
                             "a user's id (an active user of the org).")
class CustomFieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    BOOL = "bool"
    SELECT = "select"
    MULTISELECT = "multiselect"
    USER = "user"

    @property
    def domain(self) -> DomainType:
        return DomainType(self.value)


@strawberry.type(description="A custom field of customers, opportunities, leads or contacts; who may read it is the "
                             "org policy's `Type.customFields.<key>` (set by `visibleToRoles`).")
class CustomFieldDefinition:
    object_type: CustomFieldObjectType
    key: str
    label: str
    type: CustomFieldType
    options: list[str]
    required: bool
    visible_to_roles: list[str] = strawberry.field(
        description="The roles that may read it, as the policy says now (admin always).")

    @classmethod
    def from_model(cls, m: DefinitionModel, visible_to_roles: list[str]) -> CustomFieldDefinition:
        return cls(object_type=CustomFieldObjectType(m.entity), key=m.key, label=m.label,
                   type=CustomFieldType(DomainType(m.type).value), options=list(m.choices or []),
                   required=m.required, visible_to_roles=visible_to_roles)


@strawberry.input(description="Define a custom field, or change the one of `key` (its type stays); admin only.")
class DefineCustomFieldInput:
    object_type: CustomFieldObjectType
    key: str
    label: str
    type: CustomFieldType
    options: list[str] | None = strawberry.field(default=None, description="The values of a SELECT or "
                                                                           "MULTISELECT field.")
    required: bool = False
    visible_to_roles: list[str] | None = strawberry.field(
        default=None, description="The roles that may read and write it (admin always may); omitted: whoever may "
                                  "read the record's `customFields`.")


@strawberry.type
class CustomFieldPayload:
    custom_field: CustomFieldDefinition | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def readable_custom_fields(info: strawberry.Info, type_name: str, values: dict | None) -> dict | None:
    """The custom fields of a record the reader may read: the guard decides each key as the field
    ``Type.customFields.<key>`` (a denied one is left out and reported FORBIDDEN_FIELD, as any denied field)."""
    if values is None:
        return None
    ctx = info.context
    guard = ctx.authz
    out = {}
    for key, value in values.items():
        if guard.can_read(type_name, f"customFields.{key}"):
            out[key] = value
        else:
            ctx.forbid_field(type_name, f"customFields.{key}", info.path.as_list())
    return out
