"""Periodic jobs: SLA reminders and escalations of action items, overdue-invoice reminders and
escalations, invoices for installments due with automatic invoicing, delivery forecasts, delay
risks and overdue-task escalations, SLA clocks past their target (breached, escalated once per level),
follow-ups falling due (their assignees told once), and leads not
touched within their assignment rule's response time (handed on, the manager told). One
instance runs at a time across processes: a PostgreSQL advisory lock (try-lock, so others skip the round);
in-process on SQLite. Time comes from the domain clock, which tests set instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tandem.domain.automation.followup import run_follow_ups
from tandem.domain.automation.routing import run_lead_response
from tandem.domain.automation.rule_schedule import run_workflow_schedules
from tandem.domain.automation.sla import run_sla_clocks
from tandem.domain.billing.invoice import issue_due_installments
from tandem.domain.billing.receivable import run_overdue
from tandem.domain.collaboration.sla import run_sla
from tandem.domain.delivery.progress import run_delivery
from tandem.domain.shared.clock import clock
from tandem.domain.shared.outbox import settle

log = logging.getLogger("tandem.scheduler")
SCHEDULER_LOCK = 7_263_003


class Scheduler:
    def __init__(self, engine: AsyncEngine, *, interval_seconds: float = 30.0) -> None:
        self.engine = engine
        self.interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.runs: Counter[str] = Counter()
        """Rounds by outcome: ``done``, ``skipped`` (another process held the lock), ``failed``."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.runs["failed"] += 1
                log.exception("scheduler: round failed")

    async def tick(self) -> int:
        """One round now (by the domain clock); returns how many escalations it made (0 if another
        process holds the lock)."""
        async with self._lock, self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCHEDULER_LOCK}):
                    self.runs["skipped"] += 1
                    return 0
            async with AsyncSession(bind=conn, expire_on_commit=False, join_transaction_mode="control_fully") as s:
                now = clock.now()
                escalations = await run_sla(s, now)
                await issue_due_installments(s, now.date())
                escalations += await run_overdue(s, now)
                escalations += await run_delivery(s, now)
                await run_follow_ups(s, now)
                await run_lead_response(s, now)  # leads not touched in time go to the next member
                await run_workflow_schedules(s, now)  # DATE_RELATIVE and SCHEDULED workflow rules
                escalations += await run_sla_clocks(s, now)  # SLA policies' clocks: breaches, escalations
                await settle(s)  # rules react to what the passes recorded, as after any change
                await s.commit()
            self.runs["done"] += 1
            return len(escalations)
