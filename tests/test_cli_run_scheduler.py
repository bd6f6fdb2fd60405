"""`tandem run-scheduler --now <time>`: one scheduler pass as of that time, so a person sees a reminder fire
by hand (a customer not contacted for 30 days reminds its owner); a time without its offset is one line."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from tests.test_cli_errors import _one_line, _tandem


def _reminders(db: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT user_id, record_id FROM notification WHERE topic = 'workflow.notified'").fetchall()


def test_run_scheduler_now_fires_the_30_day_reminder_once(tmp_path):
    db = tmp_path / "tandem.db"
    url = f"sqlite+aiosqlite:///{db}"
    # given a new org (its built-in rules seeded now) and a customer last touched 29 days ago
    made = _tandem(tmp_path, "create-org", "--name", "测试公司", "--admin-email", "boss@cli.test",
                   TANDEM_DATABASE_URL=url)
    assert made.returncode == 0, made.stderr
    now = datetime.now(UTC)
    with sqlite3.connect(db) as conn:
        org, owner = conn.execute("SELECT org_id, id FROM app_user WHERE email = 'boss@cli.test'").fetchone()
        quiet = (now - timedelta(days=29)).replace(tzinfo=None).isoformat(sep=" ")
        customer = conn.execute(
            "INSERT INTO customer (org_id, name, tags, tier, lifecycle_stage, owner_id, currency, custom_fields, "
            "version, created_at, updated_at) VALUES (?, '老客户', '[]', 'standard', 'customer', ?, 'CNY', '{}', 1, "
            "?, ?) RETURNING id", (org, owner, quiet, quiet)).fetchone()[0]
    beijing = timezone(timedelta(hours=8))
    # when a pass runs as of tomorrow, then as of the day after (Beijing time, with its offset)
    for days in (0.5, 2, 2.5):
        moment = (now + timedelta(days=days)).astimezone(beijing).replace(microsecond=0).isoformat()
        done = _tandem(tmp_path, "run-scheduler", "--now", moment, TANDEM_DATABASE_URL=url)
        assert done.returncode == 0, done.stderr
        assert f"scheduler pass as of {moment} done" in done.stdout
        # then the owner is reminded once the 30 days are up, and only once
        assert _reminders(db) == ([] if days < 1 else [(owner, customer)])


def test_run_scheduler_refuses_a_time_without_its_offset(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
    assert _tandem(tmp_path, "migrate", TANDEM_DATABASE_URL=url).returncode == 0
    line = _one_line(_tandem(tmp_path, "run-scheduler", "--now", "2027-01-15T09:00:00", TANDEM_DATABASE_URL=url))
    assert "--now must be an ISO 8601 time with its offset" in line
