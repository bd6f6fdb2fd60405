"""Automation: workflow rules, lead and opportunity routing, reminders and SLAs that react to the
other areas' domain events (domain/shared/bus.py). It sits above every business area and below the registry."""

from . import followup, intent, routing, rule_engine, seeded_rules, sla  # noqa: F401  (register their reactions)
