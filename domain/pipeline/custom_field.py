"""Per-org typed custom field definitions, validated on every write.

Who may read a custom field is no business of this module: it is the org policy's ``Type.customFields.<key>``
(the admin's ``visibleToRoles`` is written there, see authz/admin.py), which the field guard and the event
filter apply to each key of ``customFields``.

A USER value is the user's id as the API gives it; which user that names is the API's to say
(``install_user_ids``), and the user must be an active user of the record's org."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.actor import Actor
from ..shared.base import Base, IdType, pk
from ..shared.errors import SharedErrorCode, ValidationFailed, Validator
from ..shared.outbox import record_event
from ..tenancy.errors import TenancyErrorCode
from ..tenancy.user import User
from .errors import PipelineErrorCode

MAX_TEXT = 2000
MAX_OPTIONS = 200
MAX_OPTION_LEN = 100
KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,59}")

OBJECT_TYPES = {"customer": "Customer", "opportunity": "Opportunity", "lead": "Lead", "contact": "Contact"}
"""The object types that carry custom fields (``entity``) and their record types."""


class CustomFieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    BOOL = "bool"
    SELECT = "select"
    MULTISELECT = "multiselect"
    USER = "user"
    # the names of the first definitions (migration 0016 renamed their stored values)
    BOOLEAN = "bool"
    CHOICE = "select"


WITH_OPTIONS = (CustomFieldType.SELECT, CustomFieldType.MULTISELECT)


class CustomFieldDefinition(Base):
    __tablename__ = "custom_field_definition"
    __table_args__ = (UniqueConstraint("org_id", "entity", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    entity: Mapped[str] = mapped_column(String(40))  # a key of OBJECT_TYPES
    key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    choices: Mapped[list[str]] = mapped_column(default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)


UserIds = Callable[[str], int | None]
"""The primary key of the user a USER value names (the user's id as the API gives it), or None."""

_user_ids: list[UserIds] = []


def install_user_ids(parse: UserIds) -> None:
    """The API says how its user ids name users (schema/custom_field.py installs it on import)."""
    _user_ids[:] = [parse]


def _user_pk(value: str) -> int | None:
    return _user_ids[0](value) if _user_ids else None


async def definitions_for(session: AsyncSession, org_id: int, entity: str) -> dict[str, CustomFieldDefinition]:
    rows = await session.scalars(
        select(CustomFieldDefinition).where(
            CustomFieldDefinition.org_id == org_id, CustomFieldDefinition.entity == entity
        )
    )
    return {d.key: d for d in rows}


async def define_custom_field(
    session: AsyncSession,
    org_id: int,
    *,
    entity: str,
    key: str,
    label: str,
    type: CustomFieldType,
    choices: list[str] | None = None,
    required: bool = False,
    actor: Actor | None = None,
) -> CustomFieldDefinition:
    """Create the org's custom field ``key`` of ``entity``, or change its label, options and whether it is
    required (its type stays what it was: stored values were checked against it)."""
    v = Validator()
    if entity not in OBJECT_TYPES:
        v.add("objectType", SharedErrorCode.INVALID, f"custom fields exist on {', '.join(OBJECT_TYPES)}")
    key = (key or "").strip()
    if not KEY.fullmatch(key):
        v.add("key", PipelineErrorCode.INVALID_CONFIG_KEY,
              "key is a letter then letters, digits or _ (at most 60), e.g. budgetCode")
    label = v.text("label", label, max_len=200, required=True) or ""
    options = _check_options(v, type, choices)
    v.raise_if_any()
    found = await session.scalar(select(CustomFieldDefinition).where(
        CustomFieldDefinition.org_id == org_id, CustomFieldDefinition.entity == entity,
        CustomFieldDefinition.key == key))
    if found is not None and CustomFieldType(found.type) is not type:
        raise ValidationFailed.one("type", PipelineErrorCode.CUSTOM_FIELD_TYPE_LOCKED,
                                   f"{key} is a {CustomFieldType(found.type).name} field; its type cannot change")
    definition = found or CustomFieldDefinition(org_id=org_id, entity=entity, key=key, type=type.value)
    definition.label, definition.choices, definition.required = label, options, required
    session.add(definition)
    await session.flush()
    record_event(session, actor, org_id=org_id, topic="custom_field.defined", record_type="Org", record_id=org_id,
                 operation="update" if found else "create",
                 payload={"objectType": entity, "key": key, "label": label, "type": type.name, "options": options,
                          "required": required})
    return definition


def _check_options(v: Validator, kind: CustomFieldType, options: list[str] | None) -> list[str]:
    if kind not in WITH_OPTIONS:
        if options:
            v.add("options", PipelineErrorCode.INVALID_FIELD_OPTIONS, f"a {kind.name} field has no options")
        return []
    cleaned = [o.strip() if isinstance(o, str) else "" for o in options or []]
    if not cleaned or len(cleaned) > MAX_OPTIONS:
        v.add("options", PipelineErrorCode.INVALID_FIELD_OPTIONS,
              f"a {kind.name} field needs 1 to {MAX_OPTIONS} options")
    elif any(not o or len(o) > MAX_OPTION_LEN for o in cleaned) or len(set(cleaned)) != len(cleaned):
        v.add("options", PipelineErrorCode.INVALID_FIELD_OPTIONS,
              f"options are distinct, non-empty and at most {MAX_OPTION_LEN} characters each")
    return cleaned


async def list_definitions(session: AsyncSession, org_id: int, entity: str) -> list[CustomFieldDefinition]:
    return list(await session.scalars(
        select(CustomFieldDefinition).where(CustomFieldDefinition.org_id == org_id,
                                            CustomFieldDefinition.entity == entity)
        .order_by(CustomFieldDefinition.id)))


def _coerce(definition: CustomFieldDefinition, value: Any) -> Any:
    """The JSON-safe stored form of ``value``, or raise ValueError."""
    kind = CustomFieldType(definition.type)
    if kind is CustomFieldType.TEXT:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ValueError(f"a text of at most {MAX_TEXT} characters")
        return value
    if kind is CustomFieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("a number")
        return value
    if kind is CustomFieldType.MONEY:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError('a decimal amount as a string, e.g. "1200000.00"')
        try:
            amount = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError('a decimal amount as a string, e.g. "1200000.00"') from exc
        if not amount.is_finite():
            raise ValueError("a finite decimal amount")
        return str(amount)
    if kind is CustomFieldType.BOOL:
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    if kind is CustomFieldType.DATE:
        if not isinstance(value, str):
            raise ValueError("an ISO date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise ValueError("an ISO date (YYYY-MM-DD)") from exc
    if kind is CustomFieldType.SELECT:
        if not isinstance(value, str) or value not in definition.choices:
            raise ValueError(f"one of {definition.choices}")
        return value
    if kind is CustomFieldType.MULTISELECT:
        if (not isinstance(value, list) or any(not isinstance(x, str) or x not in definition.choices for x in value)
                or len(set(value)) != len(value)):
            raise ValueError(f"a list of distinct values out of {definition.choices}")
        return value
    if kind is CustomFieldType.USER:
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise ValueError("a user's id")
        return value
    raise ValueError("a supported value")  # pragma: no cover


def validate_custom_fields(
    v: Validator,
    definitions: dict[str, CustomFieldDefinition],
    values: Any,
    *,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge ``values`` (null removes a key) onto ``current`` and check every key against its definition."""
    merged = dict(current or {})
    if values is None:
        values = {}
    if not isinstance(values, dict):
        v.add("customFields", PipelineErrorCode.INVALID_CUSTOM_FIELD, "customFields must be a JSON object")
        return merged
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            v.add(("customFields", str(key)), PipelineErrorCode.UNKNOWN_CUSTOM_FIELD,
                  f"No custom field {key!r} is defined")
            continue
        if value is None:
            merged.pop(key, None)
            continue
        try:
            merged[key] = _coerce(definition, value)
        except ValueError as exc:
            v.add(("customFields", key), PipelineErrorCode.INVALID_CUSTOM_FIELD,
                  f"{definition.label} ({key}) must be {exc}")
    for key, definition in definitions.items():
        if definition.required and merged.get(key) is None:
            v.add(("customFields", key), SharedErrorCode.REQUIRED, f"{definition.label} ({key}) is required")
    return merged


async def check_custom_fields(
    session: AsyncSession,
    org_id: int,
    v: Validator,
    entity: str,
    values: Any,
    *,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The custom fields of an ``entity`` record after a write of ``values`` onto ``current``: every key checked
    against the org's definitions (``validate_custom_fields``), and each USER value given naming an active user
    of the org (``UNKNOWN_USER`` for one that names no user of the org, ``USER_INACTIVE`` for a deactivated one)."""
    definitions = await definitions_for(session, org_id, entity)
    before = len(v.errors)
    merged = validate_custom_fields(v, definitions, values, current=current)
    refused = {e.field[-1] for e in v.errors[before:]}
    wanted = {key: _user_pk(value) for key, value in (values if isinstance(values, dict) else {}).items()
              if value is not None and key not in refused
              and CustomFieldType(definitions[key].type) is CustomFieldType.USER}
    ids = sorted({user_id for user_id in wanted.values() if user_id is not None})
    users = {u.id: u for u in await session.scalars(select(User).where(User.org_id == org_id, User.id.in_(ids)))}
    for key, user_id in wanted.items():
        user = users.get(user_id) if user_id is not None else None
        if user is None:
            v.add(("customFields", key), PipelineErrorCode.UNKNOWN_USER,
                  f"{definitions[key].label} ({key}) names no user of this org")
        elif not user.active:
            v.add(("customFields", key), TenancyErrorCode.USER_INACTIVE,
                  f"{definitions[key].label} ({key}) names a deactivated user")
    return merged
