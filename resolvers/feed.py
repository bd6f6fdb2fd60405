"""Subscriptions (record timelines, comment threads, the change feed) and pull-based `changeEvents`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

import strawberry

from tandem.domain.registry import TIMELINE_TYPES
from tandem.domain.shared import outbox
from tandem.domain.shared.errors import DomainError
from tandem.domain.shared.pagination import InvalidPageRequest
from tandem.realtime.channels import feed_channel, record_channel
from tandem.realtime.cursor import check_not_expired
from tandem.realtime.multiplex import Outlet, outlet
from tandem.realtime.relay import event_message
from tandem.realtime.stream import End, Gap, replay_then_live_batches
from tandem.schema.event import ChangeEvent, ChangeEventPage, TimelineEntry

from .events import _subject, _view, authorize, to_change_event, to_timeline_entry
from .visibility import visible_record

REPLAY_BATCH = 500
"""Events a replay reads, authorizes (one session) and renders (one more) together."""


class SubscriptionGap(DomainError):
    code = "SUBSCRIPTION_GAP"


async def _start(info: strawberry.Info, after: str | None) -> int:
    ctx = info.context
    org_id = ctx.actor.org_id
    position = ctx.realtime.cursors.decode(org_id, after)
    if position:  # from the start (no cursor) nothing can have expired

        async def load(_keys: Any) -> dict[None, int]:
            async with ctx.db.read(org_id) as session:
                return {None: await outbox.pruned_through(session)}

        check_not_expired(position, await ctx.realtime.batches.get(("pruned_through", org_id), None, load))
    return position


async def _subscription_start(info: strawberry.Info, after: str | None) -> int | End:
    """Where a subscription starts: after its cursor, or (none) at the end of the outbox as it is once
    the subscription's channel is subscribed (replay_then_live asks then): it starts live. Events
    committed and not yet positioned by then get later positions, so they are delivered."""
    if after is not None:
        return await _start(info, after)
    ctx = info.context
    org_id = ctx.actor.org_id

    async def end() -> int:
        async def load(_keys: Any) -> dict[None, int]:
            async with ctx.db.read(org_id) as session:
                return {None: await outbox.last_position(session)}

        # Shared by the subscribers asking at once; each lookup starts after its askers asked.
        return await ctx.realtime.batches.get(("last_position", org_id), None, load)

    return end


def _replayer(info: strawberry.Info, **filters: Any):
    """The outbox's events after a position, by batches of REPLAY_BATCH. Subscribers replaying the same
    events at once (a thousand opening the same record) share each query (realtime/batches.py): each
    starts after the subscriber's channel subscription, as replay_then_live requires."""
    ctx = info.context
    org_id = ctx.actor.org_id
    shared = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in filters.items()))

    async def replay(last: int) -> list[dict[str, Any]]:
        async def load(_keys: Any) -> dict[None, list[dict[str, Any]]]:
            async with ctx.db.read(org_id) as session:
                rows = await outbox.events_after(session, org_id, last, limit=REPLAY_BATCH, **filters)
            return {None: [event_message(r) for r in rows]}

        return await ctx.realtime.batches.get(("replay", org_id, shared, last), None, load)

    return replay


async def _visible_record(info: strawberry.Info, record_id: str) -> tuple[str, int]:
    """visibility.visible_record, decided once for the subscribers asking at once who see the same rows."""
    actor = info.context.actor
    return await visible_record(info, record_id, view=lambda type_name: _view(actor, type_name))


async def _authorized(info: strawberry.Info, channel: str, replay: Any, position: int | End):
    ctx = info.context
    try:
        async for events in replay_then_live_batches(ctx.realtime.hub, channel, replay, position,
                                                     max_queue=ctx.settings.ws_max_queue, batch=REPLAY_BATCH):
            for allowed in await authorize(ctx.db, ctx.actor, ctx.guard, events):
                yield allowed
    except Gap as exc:
        raise SubscriptionGap(f"Fell behind ({exc}); resubscribe with your last cursor.") from exc


def _permission_view(ctx: Any) -> tuple[Any, ...]:
    """Who decides the same of every field and action as this subscriber: the same org, policy
    version and roles (an unrestricted guard allows everything in the org)."""
    policy = getattr(ctx.guard, "policy", None)
    if policy is None:
        return (ctx.actor.org_id, type(ctx.guard).__name__)
    return (ctx.actor.org_id, policy.org_id, policy.version, ctx.guard.roles)


def _render_view(ctx: Any, permissions: tuple[Any, ...], event: dict[str, Any]) -> Hashable:
    """Subscribers with the same render view of an event receive exactly the same of it: the same
    permissions and, when the event is about a row-scoped record, the same row view of it."""
    kind, _ = _subject(event)
    return permissions, _view(ctx.actor, kind) if kind in TIMELINE_TYPES else None


async def _delivered(info: strawberry.Info, channel: str, replay: Any, position: int | End,
                     keep: Callable[[dict[str, Any]], bool], to_root: Callable[[dict[str, Any]], Any],
                     ) -> AsyncIterator[Any]:
    """A subscription's stream: the events after ``position`` the subscriber may receive and
    ``keep`` keeps, replayed then live, as root values (``to_root`` of each, cut to what it may read).

    Multiplexed (the transport gave an outlet): nothing is yielded; each event is authorized,
    executed and serialized once per render view (``to_root`` may depend on the event and the view
    only) and the payload sent through the outlet. Either way the stream is the subscriber's own:
    its replay, its bounded queue (SUBSCRIPTION_GAP when it falls behind), its duplicate filter."""
    sink = outlet()
    if sink is None:
        async for event in _authorized(info, channel, replay, position):
            if keep(event):
                yield to_root(event)
        return
    await _multiplexed(info, sink, channel, replay, position, keep, to_root)


async def _multiplexed(info: strawberry.Info, sink: Outlet, channel: str, replay: Any, position: int | End,
                       keep: Callable[[dict[str, Any]], bool], to_root: Callable[[dict[str, Any]], Any]) -> None:
    ctx = info.context
    org_id = ctx.actor.org_id
    permissions = _permission_view(ctx)
    renders = ctx.realtime.renders

    groups: dict[str, Hashable] = {}
    """Render group by the kind of record an event is about (the render view depends on nothing else)."""

    def key_of(event: dict[str, Any]) -> Hashable | None:
        if event.get("org") != org_id or not keep(event):
            return None
        kind = _subject(event)[0]
        group = groups.get(kind)
        if group is None:
            group = groups[kind] = renders.group((sink.key, _render_view(ctx, permissions, event)))
        return group, event["id"]

    async def render(event: dict[str, Any]) -> str | None:
        allowed = await authorize(ctx.db, ctx.actor, ctx.guard, [event])
        return await sink.render(to_root(allowed[0])) if allowed else None

    async def render_batch(events: list[dict[str, Any]]) -> list[str | None]:
        """A replayed batch: authorized in one call, rendered in one context; None where not allowed."""
        allowed = {e["id"]: e for e in await authorize(ctx.db, ctx.actor, ctx.guard, events)}
        roots = [to_root(allowed[e["id"]]) for e in events if e["id"] in allowed]
        if sink.render_many is not None:
            rendered = iter(await sink.render_many(roots))
        else:
            rendered = iter([await sink.render(root) for root in roots])
        return [next(rendered) if e["id"] in allowed else None for e in events]

    def warm(event: dict[str, Any]) -> tuple[Hashable, Callable[[], Awaitable[Any]]] | None:
        key = key_of(event)
        return None if key is None else (key, lambda: renders.once(key, lambda: render(event)))

    # Whoever has the same document, permissions, row views and filter warms the same for any event.
    views = tuple(_view(ctx.actor, kind) for kind in sorted(TIMELINE_TYPES))
    warm_key = renders.group((sink.key, permissions, views, keep))
    try:
        async for batch in replay_then_live_batches(ctx.realtime.hub, channel, replay, position, warm=warm,
                                                    warm_key=warm_key, max_queue=ctx.settings.ws_max_queue,
                                                    batch=REPLAY_BATCH):
            keyed = [(key, event) for event in batch if (key := key_of(event)) is not None]
            if len(keyed) == 1:  # a live event (or a replay's one): shared with its group, rendered alone
                [(key, event)] = keyed
                payloads = [await renders.once(key, lambda event=event: render(event))]
            elif keyed:  # a replayed batch: shared with whoever of the same groups replays the same batch
                events = [event for _, event in keyed]
                payloads = await renders.once(tuple(key for key, _ in keyed),
                                              lambda events=events: render_batch(events))
            else:
                continue
            for payload in payloads:
                if payload is not None:
                    await sink.send(payload)
    except Gap as exc:
        raise SubscriptionGap(f"Fell behind ({exc}); resubscribe with your last cursor.") from exc


def _everything(_event: dict[str, Any]) -> bool:
    return True


def _comments(event: dict[str, Any]) -> bool:
    return event["topic"].startswith("comment.")


@strawberry.type
class FeedQuery:
    @strawberry.field(description="Pull-based sync: changes you may read after `after`, oldest first.")
    async def change_events(self, info: strawberry.Info, after: str | None = None, first: int = 100,
                            types: list[str] | None = None) -> ChangeEventPage:
        ctx = info.context
        actor = ctx.actor
        if not 1 <= first <= 500:
            raise InvalidPageRequest("`first` must be between 1 and 500.")
        position = await _start(info, after)
        async with ctx.db.read(actor.org_id) as session:
            rows = await outbox.events_after(session, actor.org_id, position, limit=first + 1,
                                             record_types=types or None)
        has_more = len(rows) > first
        rows = rows[:first]
        end = rows[-1].position if rows else position
        events = await authorize(ctx.db, actor, ctx.guard, [event_message(r) for r in rows])
        cursors = ctx.realtime.cursors
        return ChangeEventPage(
            events=[to_change_event(e, cursors.encode(actor.org_id, e["position"])) for e in events],
            end_cursor=cursors.encode(actor.org_id, end), has_more=has_more,
        )


@strawberry.type
class FeedSubscription:
    @strawberry.subscription(description="A record's shared timeline: live; with `after`, first the entries after it.")
    async def record_timeline(self, info: strawberry.Info, record_id: strawberry.ID,
                              after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        ctx = info.context
        type_name, pk = await _visible_record(info, record_id)
        position = await _subscription_start(info, after)
        replay = _replayer(info, timeline=(type_name, pk))
        channel = record_channel(ctx.actor.org_id, type_name, pk)
        async for entry in _delivered(info, channel, replay, position, _everything, _timeline_entry(ctx)):
            yield entry

    @strawberry.subscription(description="Comments and replies on a record: live; with `after`, first those after it.")
    async def comment_thread(self, info: strawberry.Info, record_id: strawberry.ID,
                             after: str | None = None) -> AsyncGenerator[TimelineEntry, None]:
        ctx = info.context
        type_name, pk = await _visible_record(info, record_id)
        position = await _subscription_start(info, after)
        replay = _replayer(info, timeline=(type_name, pk), topics=["comment."])
        channel = record_channel(ctx.actor.org_id, type_name, pk)
        async for entry in _delivered(info, channel, replay, position, _comments, _timeline_entry(ctx)):
            yield entry

    @strawberry.subscription(description="Every change you may read (optionally of some record types): live; "
                                         "with `after`, first the changes after it.")
    async def change_feed(self, info: strawberry.Info, types: list[str] | None = None,
                          after: str | None = None) -> AsyncGenerator[ChangeEvent, None]:
        ctx = info.context
        position = await _subscription_start(info, after)
        replay = _replayer(info, record_types=types or None)
        wanted = set(types or ())

        def keep(event: dict[str, Any]) -> bool:
            return not wanted or event["recordType"] in wanted

        def to_root(event: dict[str, Any]) -> ChangeEvent:
            return to_change_event(event, ctx.realtime.cursors.encode(ctx.actor.org_id, event["position"]))

        async for change in _delivered(info, feed_channel(ctx.actor.org_id), replay, position, keep, to_root):
            yield change


def _timeline_entry(ctx: Any) -> Callable[[dict[str, Any]], TimelineEntry]:
    def to_root(event: dict[str, Any]) -> TimelineEntry:
        return to_timeline_entry(event, ctx.realtime.cursors.encode(ctx.actor.org_id, event["position"]))

    return to_root
