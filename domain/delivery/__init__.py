"""Delivery: projects, tasks, schedule, time, budget, progress, change requests. Reacts to
``OpportunityWon`` (the project) and, inside the area, re-plans on ``PlanChanged``, ``TimeLogged`` and
``ExpenseAdded`` (progress.py sits above projects, tasks, time and budget, so they announce rather than call)."""

from . import outward, progress, project, task  # noqa: F401  (registers the reactions and outward writers)
