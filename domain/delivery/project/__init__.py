"""Delivery projects. A won opportunity becomes a project in the same transaction (once: moving it
won → negotiation → won again finds the same project), built from the project template that
matches it, run by the project manager the opportunity names or else the least-loaded one (fewest
open projects), who is told live. Budget and dates come from the opportunity's contract when it has
one, else from the opportunity.

Who sees a project: its manager, its members (anyone assigned a task or added), the sales owner of
the deal it came from, and, by role scope, their managers up the chain (team) or everyone (org).

model.py holds the rows and the checks every service makes, template.py the task templates,
conversion.py the won deal's project (a reaction to ``OpportunityWon``), settings.py the manager's
settings. A change that moves the schedule raises ``PlanChanged`` (delivery/events.py) rather than
calling the scheduler, which sits above projects and tasks (delivery/progress.py)."""

from __future__ import annotations

from .conversion import convert_won_opportunity, least_loaded_manager
from .model import (
    DEFAULT_CHANGE_THRESHOLD,
    DEFAULT_COST_MARGIN,
    DEFAULT_SPI_THRESHOLD,
    MAX_TEMPLATE_TASKS,
    OPEN_STATUSES,
    PROJECT_SORTS,
    Health,
    Project,
    ProjectFilter,
    ProjectMember,
    ProjectStatus,
    ProjectTemplate,
    TemplateTask,
    add_member,
    add_working_days,
    calendar_of,
    filtered_projects,
    get_project,
    list_projects,
    load_for_write,
    member_projects,
    members_of,
    project_event,
    project_for_opportunity,
    project_payload,
    projects_by_ids,
    projects_of_opportunities,
    require_manager,
    require_open,
    share_origin,
    visible_projects,
)
from .settings import ProjectSettings, update_project
from .template import check_template_tasks, create_template, matching_template, templates_of

__all__ = [
    "DEFAULT_CHANGE_THRESHOLD",
    "DEFAULT_COST_MARGIN",
    "DEFAULT_SPI_THRESHOLD",
    "Health",
    "MAX_TEMPLATE_TASKS",
    "OPEN_STATUSES",
    "PROJECT_SORTS",
    "Project",
    "ProjectFilter",
    "ProjectMember",
    "ProjectSettings",
    "ProjectStatus",
    "ProjectTemplate",
    "TemplateTask",
    "add_member",
    "add_working_days",
    "calendar_of",
    "check_template_tasks",
    "convert_won_opportunity",
    "create_template",
    "filtered_projects",
    "get_project",
    "least_loaded_manager",
    "list_projects",
    "load_for_write",
    "matching_template",
    "member_projects",
    "members_of",
    "project_event",
    "project_for_opportunity",
    "project_payload",
    "projects_by_ids",
    "projects_of_opportunities",
    "require_manager",
    "require_open",
    "share_origin",
    "templates_of",
    "update_project",
    "visible_projects",
]
