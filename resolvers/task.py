"""Tasks and their dependencies (the project manager plans; an assignee reports progress)."""

from __future__ import annotations

import strawberry

from tandem.domain.delivery import task as service
from tandem.schema.node import decode_id
from tandem.schema.task import (
    CreateTaskInput,
    RemoveTaskDependencyInput,
    Task,
    TaskDependency,
    TaskDependencyInput,
    TaskDependencyPayload,
    TaskPayload,
    UpdateTaskInput,
)

from .mutation import named, opt_id, run, value
from .writes import row_rule, writes


def _payload(m: service.Task | None = None, user_errors: list | None = None) -> TaskPayload:
    return TaskPayload(task=Task.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class TaskQuery:
    @strawberry.field
    async def task(self, info: strawberry.Info, id: strawberry.ID) -> Task | None:
        ctx = info.context
        pk = decode_id("Task", id)
        async with ctx.read() as session:
            return Task.from_model(await service.get_task(session, ctx.actor, pk))


@strawberry.type
class TaskMutation:
    @writes("Task", "create", fields={"parent_id": "Task.parentId"})
    @strawberry.mutation(description="A task (under `parentId` for a sub-task); the project is rescheduled.")
    async def create_task(self, info: strawberry.Info, input: CreateTaskInput) -> TaskPayload:
        actor = info.context.actor
        data = service.TaskInput(
            project_id=decode_id("Project", input.project_id), parent_id=opt_id("Task", input.parent_id),
            name=input.name, description=input.description, assignee_id=opt_id("User", input.assignee_id),
            estimate_hours=input.estimate_hours, duration_days=input.duration_days,
            start_no_earlier=input.start_no_earlier, due_date=input.due_date)
        return await run(info, lambda s: service.create_task(s, actor, data), _payload)

    @writes("Task")
    @strawberry.mutation(description="Change a task. Its assignee may set status and percentComplete; anything "
                                     "else is the project manager's. The project is rescheduled.")
    async def update_task(self, info: strawberry.Info, input: UpdateTaskInput) -> TaskPayload:
        actor = info.context.actor
        pk = decode_id("Task", input.id)
        status = value(input, "status")
        data = service.TaskInput(
            name=value(input, "name"), description=value(input, "description"),
            assignee_id=opt_id("User", value(input, "assignee_id")),
            status=service.TaskStatus(status.value) if status else None,
            percent_complete=value(input, "percent_complete"), estimate_hours=value(input, "estimate_hours"),
            duration_days=value(input, "duration_days"), start_no_earlier=value(input, "start_no_earlier"),
            due_date=value(input, "due_date"), set_fields=named(input))
        return await run(info, lambda s: service.update_task(s, actor, pk, input.version, data), _payload)

    @row_rule("the project's manager")
    @strawberry.mutation(description="Make one task wait for another (a cycle is refused: DEPENDENCY_CYCLE).")
    async def add_task_dependency(self, info: strawberry.Info, input: TaskDependencyInput) -> TaskDependencyPayload:
        actor = info.context.actor
        predecessor = decode_id("Task", input.predecessor_id)
        successor = decode_id("Task", input.successor_id)

        async def work(s):
            link = await service.add_dependency(s, actor, predecessor_id=predecessor, successor_id=successor,
                                                kind=service.DependencyKind(input.kind.value), lag_days=input.lag_days)
            return link, await service.get_task(s, actor, successor)

        def payload(result=None, user_errors=None) -> TaskDependencyPayload:
            if result is None:
                return TaskDependencyPayload(user_errors=user_errors or [])
            link, task = result
            return TaskDependencyPayload(dependency=TaskDependency.from_model(link), successor=Task.from_model(task))

        return await run(info, work, payload)

    @row_rule("the project's manager")
    @strawberry.mutation
    async def remove_task_dependency(self, info: strawberry.Info,
                                     input: RemoveTaskDependencyInput) -> TaskDependencyPayload:
        actor = info.context.actor
        predecessor = decode_id("Task", input.predecessor_id)
        successor = decode_id("Task", input.successor_id)
        return await run(info, lambda s: service.remove_dependency(s, actor, predecessor_id=predecessor,
                                                                   successor_id=successor),
                         lambda t=None, user_errors=None: TaskDependencyPayload(
                             successor=Task.from_model(t) if t else None, user_errors=user_errors or []))
