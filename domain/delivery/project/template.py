"""Project templates: a reusable task list, matched to a won deal by keyword (else the org's default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...shared.actor import Actor
from ...shared.clock import clock
from ...shared.errors import SharedErrorCode, Validator
from ...shared.outbox import record_event
from ..errors import DeliveryErrorCode
from ..schedule import CycleError, Link, Node, schedule
from .model import MAX_TEMPLATE_TASKS, ProjectTemplate, TemplateTask


def check_template_tasks(v: Validator, tasks: list[TemplateTask]) -> list[dict[str, Any]]:
    if not tasks:
        v.add("tasks", SharedErrorCode.REQUIRED, "a template needs at least one task")
    if len(tasks) > MAX_TEMPLATE_TASKS:
        v.add("tasks", SharedErrorCode.INVALID, f"at most {MAX_TEMPLATE_TASKS} tasks")
    keys: dict[str, int] = {}
    out = []
    for i, t in enumerate(tasks):
        tv = v.under("tasks", str(i))
        key = tv.text("key", t.key, max_len=40, required=True) or f"#{i}"
        if key in keys:
            tv.add("key", SharedErrorCode.DUPLICATE, f"key {key!r} is used twice")
        keys[key] = i
        name = tv.text("name", t.name, max_len=200, required=True)
        if not 0 <= t.duration_days <= 3650:
            tv.add("durationDays", SharedErrorCode.INVALID, "durationDays is 0 (a milestone) to 3650")
        if t.estimate_hours < 0 or t.estimate_hours > 100_000:
            tv.add("estimateHours", SharedErrorCode.INVALID, "estimateHours is 0 to 100000")
        out.append({"key": key, "name": name, "durationDays": t.duration_days,
                    "estimateHours": str(t.estimate_hours), "dependsOn": list(t.depends_on), "parent": t.parent})
    for i, t in enumerate(tasks):
        for dep in t.depends_on:
            if dep not in keys:
                v.add(("tasks", str(i), "dependsOn"), SharedErrorCode.INVALID, f"no task with key {dep!r}")
        if t.parent is not None and t.parent not in keys:
            v.add(("tasks", str(i), "parent"), SharedErrorCode.INVALID, f"no task with key {t.parent!r}")
    if not v.errors:
        try:
            schedule([Node(i, t.duration_days) for i, t in enumerate(tasks)],
                     [Link(keys[d], i) for i, t in enumerate(tasks) for d in t.depends_on])
        except CycleError as exc:
            names = ", ".join(tasks[i].key for i in exc.path)
            v.add("tasks", DeliveryErrorCode.DEPENDENCY_CYCLE, f"the dependencies form a cycle through {names}")
    return out


async def create_template(session: AsyncSession, actor: Actor, *, name: str | None, keywords: list[str],
                          is_default: bool, tasks: list[TemplateTask]) -> ProjectTemplate:
    v = Validator()
    name = v.text("name", name, max_len=200, required=True)
    clean = [k.strip() for k in keywords if k and k.strip()]
    if len(clean) > 50 or any(len(k) > 100 for k in clean):
        v.add("keywords", SharedErrorCode.INVALID, "at most 50 keywords of 100 characters")
    checked = check_template_tasks(v, tasks)
    if name and await session.scalar(select(ProjectTemplate.id).where(ProjectTemplate.org_id == actor.org_id,
                                                                      ProjectTemplate.name == name)):
        v.add("name", SharedErrorCode.DUPLICATE, f"a template named {name!r} exists already")
    v.raise_if_any()
    if is_default:
        for other in await session.scalars(select(ProjectTemplate).where(
                ProjectTemplate.org_id == actor.org_id, ProjectTemplate.is_default.is_(True))):
            other.is_default = False
    template = ProjectTemplate(org_id=actor.org_id, name=name, keywords=clean, is_default=is_default, tasks=checked,
                               created_at=clock.now())
    session.add(template)
    await session.flush()
    record_event(session, actor, org_id=actor.org_id, topic="project_template.created", record_type="ProjectTemplate",
                 record_id=template.id, operation="create",
                 payload={"id": template.id, "name": name, "tasks": len(checked), "isDefault": is_default})
    return template


async def matching_template(session: AsyncSession, org_id: int, opportunity_name: str) -> ProjectTemplate | None:
    templates = list(await session.scalars(select(ProjectTemplate).where(ProjectTemplate.org_id == org_id)
                                           .order_by(ProjectTemplate.id)))
    folded = opportunity_name.casefold()
    for t in templates:
        if any(k.casefold() in folded for k in t.keywords):
            return t
    return next((t for t in templates if t.is_default), None)


async def templates_of(session: AsyncSession, actor: Actor) -> list[ProjectTemplate]:
    return list(await session.scalars(select(ProjectTemplate).where(ProjectTemplate.org_id == actor.org_id)
                                      .order_by(ProjectTemplate.name)))
