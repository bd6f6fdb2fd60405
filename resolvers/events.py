"""Which events an actor may receive, and which of their fields: the same guard and row scopes
as queries, applied to subscriptions and the change feed. No event crosses orgs."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from datetime import datetime
from typing import Any

from tandem.domain.collaboration.timeline import describe
from tandem.domain.registry import (
    ITEMS,
    RECORD_ID,
    RECORD_TYPES,
    REFERENCES,
    SHAPES,
    TIMELINE_TYPES,
    Changes,
    Key,
    Keyed,
    Nested,
    Paths,
    change_id_type,
    id_type,
    path_governs,
    path_steps,
    payload_keys,
    payload_shape,
    scope_type,
    shape_key,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.scope import Scope
from tandem.schema.event import ChangeEvent, TimelineEntry
from tandem.schema.node import to_global_id

from .visibility import visible_ids


def _subject(event: dict[str, Any]) -> tuple[str, int]:
    """The record whose visibility decides an event's: the record on whose timeline it is, for a type
    the registry says follows its timeline; else the event's own record."""
    timeline_type, timeline_id = event.get("timeline") or (None, None)
    record_type = RECORD_TYPES.get(event["recordType"])
    if record_type is not None and record_type.follows_timeline and timeline_type:
        return timeline_type, timeline_id
    return event["recordType"], event["recordId"]


def cut(guard: Any, topic: str, record_type: str, payload: Any) -> dict[str, Any]:
    """What of an event's payload the actor may read: each key the registry declares for the topic, when
    the actor may read the field governing it; nothing undeclared (deny by default). Ids are global ids
    (the registry says which keys carry ids of which record type)."""
    if not isinstance(payload, dict):
        return {}
    return _cut(guard, payload_keys(topic, record_type), payload, payload_shape(topic, record_type), record_type)


def _readable(guard: Any, governs: tuple[str, ...]) -> bool:
    return all(guard.can_read(*name.split(".", 1)) for name in governs)


def _cut(guard: Any, keys: dict[str, Key], payload: dict[str, Any], shape: str, record_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in payload.items():
        declared = keys.get(key)
        if declared is None:
            continue
        if isinstance(declared, Nested):
            if not _readable(guard, declared.governs):
                continue
            inner = SHAPES[declared.shape]
            if isinstance(value, dict):
                out[key] = _cut(guard, inner, value, declared.shape, record_type)
            elif isinstance(value, list):
                out[key] = [_cut(guard, inner, item, declared.shape, record_type)
                            for item in value if isinstance(item, dict)]
            elif value is None:
                out[key] = None
        elif isinstance(declared, Keyed):
            if _readable(guard, (declared.governs,)):
                out[key] = _keyed(guard, declared, value)
        elif isinstance(declared, Paths):
            if isinstance(value, dict):
                out[key] = {k: _global(_path_id_type(record_type, k), v) for k, v in value.items()
                            if (g := path_governs(record_type, k)) is not None and _readable(guard, g)}
        elif isinstance(declared, Changes):
            if isinstance(value, dict):
                out[key] = {k: _global(change_id_type(k), _change(guard, d, v)) for k, v in value.items()
                            if isinstance(d := shape_key(declared.shape, k), tuple | Keyed)
                            and _readable(guard, (d.governs,) if isinstance(d, Keyed) else d)}
        elif _readable(guard, declared):
            if key == RECORD_ID:
                kind = payload.get("recordType")
                out[key] = _global(kind if isinstance(kind, str) else record_type, value)
            elif key in ITEMS:
                out[key] = _items(ITEMS[key], value)
            else:
                out[key] = _global(id_type(shape, key), value)
    return out


def _path_id_type(record_type: str, path: str) -> str | None:
    """The record type whose ids a field path's value holds (``owner``: User), or None."""
    steps = path_steps(record_type, path)
    return id_type(*steps[-1]) if steps else None


def _keyed(guard: Any, declared: Keyed, value: Any) -> Any:
    """Of a dict of fields of their own (custom fields), the keys the actor may read."""
    if not isinstance(value, dict):
        return value if value is None else {}
    record_type, field = declared.governs.split(".", 1)
    return {k: v for k, v in value.items() if guard.can_read(record_type, f"{field}.{k}")}


def _change(guard: Any, declared: Key, value: Any) -> Any:
    """A change's value (``[before, after]`` or the value after), cut as its field's declaration says."""
    if isinstance(declared, Keyed):
        return [_keyed(guard, declared, v) for v in value] if isinstance(value, list) else _keyed(guard, declared,
                                                                                                    value)
    return value


def _global(type_name: str | None, value: Any) -> Any:
    """``value`` with the ids it holds (an int, or ints in a list; a change's before and after) as global ids of
    ``type_name``; anything else as it is."""
    if type_name is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return to_global_id(type_name, value)
    if isinstance(value, list):
        return [_global(type_name, v) for v in value]
    return value


def _items(type_name: str, value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [{k: _global(type_name if k == "id" else REFERENCES.get(k), v) for k, v in item.items()}
            if isinstance(item, dict) else item for item in value]


def _view(actor: Actor, kind: str) -> tuple[Any, ...]:
    """Who else sees exactly what this actor sees of ``kind``: everyone with org scope in the org,
    otherwise just this user with this scope and team (own/team scopes and shares are personal; a
    user's connections opened before and after a policy or team change see differently)."""
    scope = actor.scope(scope_type(kind))
    if scope is Scope.ORG:
        return ("org", actor.org_id)
    return ("user", actor.org_id, actor.user_id, actor.team_id, scope)


_DECIDED: OrderedDict[tuple[Any, ...], asyncio.Future[bool]] = OrderedDict()
_DECIDED_MAX = 50_000


async def _visible_once(db: Any, actor: Actor, event_id: int, kind: str, pk: int) -> bool:
    """Whether the record an event is about is visible to the actor, decided once per event and
    view however many subscribers ask (a thousand viewers of one record cost one query)."""
    key = (event_id, kind, pk, _view(actor, kind))
    future = _DECIDED.get(key)
    if future is None:
        future = asyncio.get_running_loop().create_future()
        _DECIDED[key] = future
        if len(_DECIDED) > _DECIDED_MAX:
            _DECIDED.popitem(last=False)
        try:
            async with db.read(actor.org_id) as session:
                future.set_result(bool(await visible_ids(session, actor, kind, [pk])))
        except BaseException as exc:
            _DECIDED.pop(key, None)
            future.set_exception(exc)
            raise
    return await asyncio.shield(future)


async def authorize(db: Any, actor: Actor, guard: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events the actor may receive, in order, each cut to the fields they may read."""
    events = [e for e in events if e.get("org") == actor.org_id]
    if len(events) == 1:  # a live event: share the decision with every subscriber of the same view
        [e] = events
        kind, pk = _subject(e)
        if kind in TIMELINE_TYPES and not await _visible_once(db, actor, e["id"], kind, pk):
            return []
        visible = None
    else:
        wanted: dict[str, set[int]] = defaultdict(set)
        for e in events:
            kind, pk = _subject(e)
            if kind in TIMELINE_TYPES:
                wanted[kind].add(pk)
        visible = {}
        if wanted:
            async with db.read(actor.org_id) as session:
                for kind, ids in wanted.items():
                    visible[kind] = await visible_ids(session, actor, kind, sorted(ids))
    out = []
    for e in events:
        kind, pk = _subject(e)
        if visible is not None and kind in TIMELINE_TYPES and pk not in visible.get(kind, ()):
            continue
        if e["recordType"] == "Org" and not guard.can("Policy", "manage"):
            continue
        out.append({**e, "payload": cut(guard, e["topic"], e["recordType"], e["payload"])})
    return out


def to_change_event(e: dict[str, Any], cursor: str) -> ChangeEvent:
    return ChangeEvent(
        cursor=cursor, event_id=to_global_id("Event", e["id"]), topic=e["topic"], record_type=e["recordType"],
        record_id=to_global_id(e["recordType"], e["recordId"]), operation=e["operation"],
        occurred_at=datetime.fromisoformat(e["at"]), payload=e["payload"], _actor_id=e.get("actor"),
    )


def to_timeline_entry(e: dict[str, Any], cursor: str) -> TimelineEntry:
    kind, summary = describe(e["topic"], e["recordType"], e["payload"])
    return TimelineEntry(
        cursor=cursor, event_id=to_global_id("Event", e["id"]), kind=kind, summary=summary,
        record_type=e["recordType"], record_id=to_global_id(e["recordType"], e["recordId"]),
        occurred_at=datetime.fromisoformat(e["at"]), data=e["payload"], _actor_id=e.get("actor"),
    )
