"""What each mutation writes, declared on the mutation and checked at one point before its resolver runs.

Every field of the root Mutation carries one declaration (a test enumerates the schema):

- ``@writes("Task", "create")``: the role needs the type-level action (when one is named) and a write on
  every ``Type.field`` its input gives. An input attribute writes the field of the same name
  (``owner_id`` -> ``owner``) unless ``fields`` maps it elsewhere or to None (it names a record, or is no
  field of a guarded type);
- ``@acts("Contract", "terminate")``: a type-level action that writes no field through its input (its
  permission covers what it records: a status, a reason, a sub-record);
- ``@row_rule("...")``: no type action and no guarded field; the domain decides from the rows (the
  comment's author, the project's manager, the open step's role).

A denied check raises FORBIDDEN before the resolver reads or writes anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from tandem.authz.guard import Guard
from tandem.domain.registry import Keyed, shape_key
from tandem.domain.shared.payload import camel

NOT_FIELDS = ("id", "version", "idempotency_key")


def given(input_obj: Any) -> list[str]:
    """The input attributes the client gave a value. UNSET is never given; null is given where it clears
    (a field without a null default, as on update inputs), not where it only means "none" (create inputs)."""
    out = []
    for f in dataclasses.fields(input_obj):
        v = getattr(input_obj, f.name)
        if v is strawberry.UNSET or (v is None and f.default is None):
            continue
        out.append(f.name)
    return out


class Writes(FieldExtension):
    """A mutation's declaration: type-level actions it needs and the ``Type.field`` each input attribute writes."""

    def __init__(self, record_type: str | None, *, needs: Iterable[tuple[str, str]] = (),
                 fields: Mapping[str, str | None] | None = None, also: Iterable[str] = (),
                 rule: str | None = None) -> None:
        self.record_type = record_type
        self.needs = tuple(needs)
        self.fields = dict(fields or {})
        self.also = tuple(also)
        self.rule = rule

    @property
    def writes_fields(self) -> bool:
        return self.record_type is not None

    def target(self, attr: str) -> str | None:
        """The ``Type.field`` an input attribute writes (None: it writes no guarded field)."""
        if attr in self.fields:
            return self.fields[attr]
        if not self.writes_fields or attr in NOT_FIELDS:
            return None
        return f"{self.record_type}.{camel(attr)}"

    def written(self, input_obj: Any) -> list[str]:
        """Every ``Type.field`` this input writes."""
        out = list(self.also)
        if self.writes_fields:
            for attr in given(input_obj):
                target = self.target(attr)
                if target is not None and target not in out:
                    out.append(target)
                    out += _keys_written(target, getattr(input_obj, attr))
        return out

    def check(self, guard: Guard, input_obj: Any) -> None:
        for record_type, action in self.needs:
            guard.require(record_type, action)
        by_type: dict[str, list[str]] = {}
        for target in self.written(input_obj):
            record_type, field = target.split(".", 1)
            by_type.setdefault(record_type, []).append(field)
        for record_type, fields in by_type.items():
            guard.require_write(record_type, fields)

    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        self.check(info.context.authz, kwargs.get("input"))
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        self.check(info.context.authz, kwargs.get("input"))
        return await next_(source, info, **kwargs)

    def __call__(self, field: StrawberryField) -> StrawberryField:
        """Used as a decorator over ``@strawberry.mutation``: the mutation runs through this check."""
        field.extensions.append(self)
        return field


def _keys_written(target: str, value: Any) -> list[str]:
    """A field whose keys are fields of their own (custom fields, the registry's ``Keyed``) writes each key
    given: ``Opportunity.customFields.budgetCode``."""
    record_type, field = target.split(".", 1)
    if not isinstance(value, dict) or not isinstance(shape_key(record_type, field), Keyed):
        return []
    return [f"{target}.{key}" for key in value]


def writes(record_type: str, action: str | None = None, *, needs: Iterable[tuple[str, str]] = (),
           fields: Mapping[str, str | None] | None = None, also: Iterable[str] = ()) -> Writes:
    """Writes fields of ``record_type`` (after ``action`` on it, when named, and any other ``needs``)."""
    return Writes(record_type, needs=(*(((record_type, action),) if action else ()), *needs), fields=fields,
                  also=also)


def acts(record_type: str, action: str) -> Writes:
    """A type-level action; its input names the record and why, and writes no field of it directly."""
    return Writes(None, needs=((record_type, action),))


def row_rule(why: str) -> Writes:
    """No type-level action and no guarded field: the domain decides, from the rows, who may (``why``)."""
    return Writes(None, rule=why)


def declaration(field: StrawberryField) -> list[Writes]:
    return [e for e in field.extensions if isinstance(e, Writes)]
