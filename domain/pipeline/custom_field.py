"""Per-org typed custom field definitions, validated on every write."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ..shared.base import Base, IdType, pk
from ..shared.errors import SharedErrorCode, Validator
from .errors import PipelineErrorCode

MAX_TEXT = 2000


class CustomFieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    BOOLEAN = "boolean"
    DATE = "date"
    CHOICE = "choice"


class CustomFieldDefinition(Base):
    __tablename__ = "custom_field_definition"
    __table_args__ = (UniqueConstraint("org_id", "entity", "key"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    entity: Mapped[str] = mapped_column(String(40))  # "customer" | "opportunity"
    key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    choices: Mapped[list[str]] = mapped_column(default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)


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
) -> CustomFieldDefinition:
    definition = CustomFieldDefinition(
        org_id=org_id, entity=entity, key=key, label=label, type=type.value,
        choices=list(choices or []), required=required,
    )
    session.add(definition)
    await session.flush()
    return definition


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
    if kind is CustomFieldType.BOOLEAN:
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
    if kind is CustomFieldType.CHOICE:
        if value not in definition.choices:
            raise ValueError(f"one of {definition.choices}")
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
