"""Follow-up reminders through the API: scheduled on a record you can see, for someone who can see it, listed in
``myFollowUps`` (overdue ones marked), and reaching the assignee live at their due time, once, not before. The
scheduler's pass runs when the test says: before the due time on the domain clock, after it on the real one (a
notification stamped in the future would sort above later ones in every inbox of the shared session)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tandem.domain.shared.clock import clock
from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.users import MANAGER, REP1, REP2, user_id
from tests.factories.realtime import connect, subscribe_live

SCHEDULE = """
mutation ($input: ScheduleFollowUpInput!) {
  scheduleFollowUp(input: $input) {
    followUp { id dueAt note status overdue version record { id } assignee { email } createdBy { email } }
    userErrors { field code }
  }
}"""
COMPLETE = """
mutation ($input: CloseFollowUpInput!) {
  completeFollowUp(input: $input) { followUp { id status } userErrors { field code } }
}"""
CANCEL = """
mutation ($input: CloseFollowUpInput!) {
  cancelFollowUp(input: $input) { followUp { id status } userErrors { field code } }
}"""
MY_FOLLOW_UPS = """
query ($status: FollowUpStatus, $after: String) {
  myFollowUps(status: $status, first: 100, after: $after) {
    edges { cursor node { id note dueAt status overdue record { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
INBOX = """
query { notifications(first: 100) { edges { node { topic kind summary recordType recordId data } } } }"""
MY_NOTIFICATIONS = """subscription { myNotifications { kind summary recordType recordId data } }"""
UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version nextStep nextStepAt } userErrors { field code } }
}"""


def _soon(hours: float = 1) -> datetime:
    """``hours`` from now, or later (to the next whole second)."""
    return (datetime.now(UTC) + timedelta(hours=hours, seconds=1)).replace(microsecond=0)


async def _schedule(gql: Any, record_id: str, due_at: datetime, note: str = "回访：确认技术方案", *, as_: str = REP1,
                    **more: Any) -> dict[str, Any]:
    return await gql(SCHEDULE, {"input": {"recordId": record_id, "dueAt": due_at.isoformat(), "note": note,
                                          **more}}, as_=as_)


async def _mine(gql: Any, as_: str, status: str | None = "OPEN") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        page = (await gql(MY_FOLLOW_UPS, {"status": status, "after": after}, as_=as_))["data"]["myFollowUps"]
        out.update({e["node"]["id"]: e["node"] for e in page["edges"]})
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def _due_in_inbox(gql: Any, follow_up_id: str, as_: str) -> list[dict[str, Any]]:
    edges = (await gql(INBOX, as_=as_))["data"]["notifications"]["edges"]
    return [e["node"] for e in edges if e["node"]["topic"] == "follow_up.due" and e["node"]["recordId"] == follow_up_id]


async def _tick(app: Any, at: datetime | None = None) -> None:
    """A scheduler pass at ``at`` (None: now)."""
    clock.set(at)
    try:
        await app.state.scheduler.tick()
    finally:
        clock.set(None)


async def _until(at: datetime) -> None:
    """Once the real clock has passed ``at``."""
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 0.05)


async def test_a_follow_up_reaches_its_assignee_live_at_its_due_time_once_and_not_before(gql, app):
    # given a follow-up rep1 schedules on their customer for their manager, due in a moment
    customer = await new_customer(gql)
    due_at = _soon(2 / 3600)
    scheduled = ok(await _schedule(gql, customer["id"], due_at, assigneeId=user_id(gql, MANAGER)), "scheduleFollowUp")
    follow_up = scheduled["followUp"]
    assert follow_up["record"] == {"id": customer["id"]}
    assert (follow_up["assignee"], follow_up["createdBy"]) == ({"email": MANAGER}, {"email": REP1})
    assert (follow_up["note"], follow_up["status"], follow_up["overdue"]) == ("回访：确认技术方案", "OPEN", False)
    assert follow_up["id"] in await _mine(gql, MANAGER)
    async with connect(app, gql.token(MANAGER)) as socket:
        await subscribe_live(app, socket, "n", MY_NOTIFICATIONS, {})
        # when the scheduler runs a minute before it is due
        await _tick(app, due_at - timedelta(minutes=1))
        # then the manager has not been told
        assert await _due_in_inbox(gql, follow_up["id"], MANAGER) == []
        # when it runs once it is due, then again
        await _until(due_at)
        await _tick(app)
        await _tick(app)
        # then the manager hears it live, with the note
        for _ in range(200):  # what else the passes told the manager may come first
            entry = (await socket.events("n", 1, "myNotifications"))[0]
            if entry["kind"] == "reminder" and entry["recordId"] == follow_up["id"]:
                break
        assert (entry["kind"], entry["recordType"], entry["recordId"]) == ("reminder", "FollowUp", follow_up["id"])
        assert "回访：确认技术方案" in entry["summary"]
        assert entry["data"]["recordId"] == customer["id"]
        # and only once
        more = [m["payload"]["data"]["myNotifications"] for m in await socket.nothing_more() if m.get("id") == "n"]
        assert [m for m in more if m["recordId"] == follow_up["id"]] == []
    # and has it once in their inbox, overdue in their list
    assert len(await _due_in_inbox(gql, follow_up["id"], MANAGER)) == 1
    clock.set(due_at + timedelta(minutes=1))
    try:
        mine = await _mine(gql, MANAGER)
    finally:
        clock.set(None)
    assert mine[follow_up["id"]]["overdue"] is True


async def test_a_user_who_cannot_see_the_record_cannot_schedule_on_it(gql):
    # given rep1's customer, which rep2 may not see
    customer = await new_customer(gql)
    # when rep2 schedules a follow-up on it
    result = await _schedule(gql, customer["id"], _soon(), as_=REP2)
    # then it does not exist for them, and they have no follow-up on it
    assert error_code(result) == "NOT_FOUND"
    assert all(f["record"] != {"id": customer["id"]} for f in (await _mine(gql, REP2)).values())


async def test_bad_due_times_and_assignees_are_refused_and_change_nothing(gql):
    customer = await new_customer(gql)
    before = await _mine(gql, REP1)
    past = await _schedule(gql, customer["id"], datetime.now(UTC) - timedelta(minutes=5))
    assert user_errors(past, "scheduleFollowUp") == [(["dueAt"], "DUE_IN_PAST")]
    naive = await gql(SCHEDULE, {"input": {"recordId": customer["id"], "dueAt": "2031-01-01T09:00:00"}}, as_=REP1)
    assert user_errors(naive, "scheduleFollowUp") == [(["dueAt"], "INVALID")]
    blind = await _schedule(gql, customer["id"], _soon(), assigneeId=user_id(gql, REP2))
    assert user_errors(blind, "scheduleFollowUp") == [(["assigneeId"], "ASSIGNEE_CANNOT_SEE_RECORD")]
    stranger = await _schedule(gql, customer["id"], _soon(), assigneeId=user_id(gql, "admin@acme.test"))
    assert error_code(stranger) == "NOT_FOUND"
    assert await _mine(gql, REP1) == before


async def test_completing_or_cancelling_takes_a_follow_up_off_the_open_list(gql):
    customer = await new_customer(gql)
    done = ok(await _schedule(gql, customer["id"], _soon(2), "发送合同草稿"), "scheduleFollowUp")["followUp"]
    dropped = ok(await _schedule(gql, customer["id"], _soon(3), "约见采购部"), "scheduleFollowUp")["followUp"]
    # someone else may not close rep1's follow-up
    assert error_code(await gql(COMPLETE, {"input": {"id": done["id"]}}, as_=REP2)) == "NOT_FOUND"
    completed = ok(await gql(COMPLETE, {"input": {"id": done["id"], "version": done["version"]}}, as_=REP1),
                   "completeFollowUp")
    assert completed["followUp"]["status"] == "DONE"
    cancelled = ok(await gql(CANCEL, {"input": {"id": dropped["id"]}}, as_=REP1), "cancelFollowUp")
    assert cancelled["followUp"]["status"] == "CANCELLED"
    again = await gql(CANCEL, {"input": {"id": dropped["id"]}}, as_=REP1)
    assert user_errors(again, "cancelFollowUp") == [(["id"], "INVALID_STATE")]
    open_now = await _mine(gql, REP1)
    assert done["id"] not in open_now and dropped["id"] not in open_now
    assert (await _mine(gql, REP1, "DONE"))[done["id"]]["status"] == "DONE"


async def test_an_opportunitys_next_step_time_is_a_follow_up_for_its_owner(gql):
    # given an opportunity of rep1
    opportunity = await new_opportunity(gql)
    at = _soon(24)
    # when its next step gets a time
    result = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                                      "nextStep": "提交技术方案", "nextStepAt": at.isoformat()}},
                       as_=REP1)
    updated = ok(result, "updateOpportunity")["opportunity"]
    assert (updated["nextStep"], datetime.fromisoformat(updated["nextStepAt"])) == ("提交技术方案", at)
    # then rep1 has a follow-up on it, due then, with the step as its note
    [follow_up] = [f for f in (await _mine(gql, REP1)).values() if f["record"] == {"id": opportunity["id"]}]
    assert (follow_up["note"], datetime.fromisoformat(follow_up["dueAt"])) == ("提交技术方案", at)
    # when the time is cleared, the follow-up goes
    result = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": updated["version"],
                                                      "nextStepAt": None}}, as_=REP1)
    ok(result, "updateOpportunity")
    assert follow_up["id"] not in await _mine(gql, REP1)
