"""Critical-path scheduling, in working-day indices (no I/O).

Forward pass: a task starts at the latest of day 0, its own "start no earlier than" day and what
its dependencies allow (finish-to-start: the predecessor's finish + lag; start-to-start: the
predecessor's start + lag); it finishes ``duration`` working days later (finish indices are
exclusive; a 0-day task is a milestone). Backward pass from the project's finish gives the latest
start and finish; slack is their difference and the critical path is the chain of zero slack.
A summary task (one with children) spans its children.

The forecast does the same from today: finished tasks keep their actual dates, started ones need
the rest of their duration from today, the others start no earlier than today."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FS = "FS"
SS = "SS"


@dataclass
class Node:
    id: int
    duration: int
    parent_id: int | None = None
    not_before: int | None = None
    percent: int = 0
    done: bool = False
    started: bool = False
    actual_start: int | None = None
    actual_finish: int | None = None


@dataclass(frozen=True)
class Link:
    predecessor: int
    successor: int
    kind: str = FS
    lag: int = 0


@dataclass
class Timing:
    early_start: int = 0
    early_finish: int = 0
    late_start: int = 0
    late_finish: int = 0
    forecast_start: int = 0
    forecast_finish: int = 0

    @property
    def slack(self) -> int:
        return self.late_start - self.early_start

    @property
    def critical(self) -> bool:
        return self.slack <= 0


@dataclass
class Schedule:
    timings: dict[int, Timing] = field(default_factory=dict)
    finish: int = 0
    forecast_finish: int = 0
    order: list[int] = field(default_factory=list)


class CycleError(ValueError):
    """The dependencies form a cycle; ``path`` lists the task ids around it."""

    def __init__(self, path: list[int]) -> None:
        super().__init__(f"dependency cycle through tasks {path}")
        self.path = path


def find_cycle(edges: Mapping[int, Iterable[int]], start: int, target: int) -> list[int] | None:
    """A path from ``start`` to ``target`` following ``edges`` (successor lists), if one exists:
    adding the link target → start would close it into a cycle."""
    previous: dict[int, int | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == target:
            path = [node]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])  # type: ignore[arg-type]
            return list(reversed(path))
        for nxt in edges.get(node, ()):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def _topological(ids: list[int], links: list[Link]) -> list[int]:
    incoming = {i: 0 for i in ids}
    out: dict[int, list[int]] = defaultdict(list)
    for link in links:
        out[link.predecessor].append(link.successor)
        incoming[link.successor] += 1
    ready = deque(i for i in ids if incoming[i] == 0)
    order = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for nxt in out[node]:
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                ready.append(nxt)
    if len(order) != len(ids):
        # Left over: the cycles and everything downstream of them. Peel off the tasks that lead to
        # no other left-over task, until only the cycles remain.
        stuck = {i for i in ids if incoming[i] > 0}
        while dead_ends := {i for i in stuck if not any(nxt in stuck for nxt in out[i])}:
            stuck -= dead_ends
        raise CycleError([i for i in ids if i in stuck])
    return order


def schedule(nodes: list[Node], links: list[Link], *, today: int = 0) -> Schedule:
    """Early/late/forecast timings of every task; links between summary tasks are ignored."""
    by_id = {n.id: n for n in nodes}
    children: dict[int, list[int]] = defaultdict(list)
    for n in nodes:
        if n.parent_id is not None and n.parent_id in by_id:
            children[n.parent_id].append(n.id)
    leaves = [n.id for n in nodes if n.id not in children]
    leaf_set = set(leaves)
    links = [x for x in links if x.predecessor in leaf_set and x.successor in leaf_set]
    order = _topological(leaves, links)
    preds: dict[int, list[Link]] = defaultdict(list)
    succs: dict[int, list[Link]] = defaultdict(list)
    for link in links:
        preds[link.successor].append(link)
        succs[link.predecessor].append(link)
    timings = {i: Timing() for i in by_id}

    for i in order:  # forward pass and forecast
        node, t = by_id[i], timings[i]
        start = max(0, node.not_before or 0)
        forecast = start
        for link in preds[i]:
            p = timings[link.predecessor]
            if link.kind == SS:
                start = max(start, p.early_start + link.lag)
                forecast = max(forecast, p.forecast_start + link.lag)
            else:
                start = max(start, p.early_finish + link.lag)
                forecast = max(forecast, p.forecast_finish + link.lag)
        t.early_start, t.early_finish = start, start + node.duration
        if node.done:
            t.forecast_start = node.actual_start if node.actual_start is not None else start
            t.forecast_finish = node.actual_finish if node.actual_finish is not None else max(
                t.forecast_start + node.duration, t.forecast_start)
        elif node.started or node.percent > 0:
            t.forecast_start = node.actual_start if node.actual_start is not None else min(forecast, today)
            remaining = math.ceil(node.duration * (100 - node.percent) / 100)
            t.forecast_finish = max(today, t.forecast_start) + remaining
        else:
            t.forecast_start = max(forecast, today)
            t.forecast_finish = t.forecast_start + node.duration

    finish = max((timings[i].early_finish for i in leaves), default=0)
    for i in reversed(order):  # backward pass
        node, t = by_id[i], timings[i]
        latest = finish
        for link in succs[i]:
            s = timings[link.successor]
            if link.kind == SS:
                latest = min(latest, s.late_start - link.lag + node.duration)
            else:
                latest = min(latest, s.late_start - link.lag)
        t.late_finish, t.late_start = latest, latest - node.duration

    def roll_up(i: int) -> None:  # summary tasks span their children
        kids = children.get(i)
        if not kids:
            return
        for k in kids:
            roll_up(k)
        t, spans = timings[i], [timings[k] for k in kids]
        t.early_start = min(s.early_start for s in spans)
        t.early_finish = max(s.early_finish for s in spans)
        t.late_start = min(s.late_start for s in spans)
        t.late_finish = max(s.late_finish for s in spans)
        t.forecast_start = min(s.forecast_start for s in spans)
        t.forecast_finish = max(s.forecast_finish for s in spans)
        t.late_start = t.early_start + min(s.slack for s in spans)

    for n in nodes:
        if n.parent_id is None or n.parent_id not in by_id:
            roll_up(n.id)
    forecast_finish = max((timings[i].forecast_finish for i in leaves), default=0)
    return Schedule(timings=timings, finish=finish, forecast_finish=forecast_finish, order=order)
