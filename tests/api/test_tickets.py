"""The service desk through the API: a ticket created by service, answered in public and noted internally,
handed to sales (whose members hear it live, the reason on its timeline), resolved and reopened; moves its
status does not allow are refused and change nothing; internal notes and whom to contact stay hidden from
marketing; each role sees and does what the policy says."""

from __future__ import annotations

from typing import Any

from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.crm import new_customer
from tests.factories.api.users import ADMIN, FINANCE, MARKETING, PM, REP1, REP2, SERVICE, user_id
from tests.factories.realtime import connect, positioned, subscribe_live

TICKET_FIELDS = """id version status subject priority channel category resolution firstResponseAt resolvedAt
  customer { id } contact { id name } queue { id department } assignee { email }"""
CREATE = f"""
mutation ($input: CreateTicketInput!) {{
  createTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} userErrors {{ field code }} }}
}}"""
UPDATE = f"""
mutation ($input: UpdateTicketInput!) {{
  updateTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} userErrors {{ field code }} }}
}}"""
REPLY = f"""
mutation ($input: ReplyToTicketInput!) {{
  replyToTicket(input: $input) {{
    ticket {{ {TICKET_FIELDS} }} message {{ id body internal author {{ email }} }} userErrors {{ field code }}
  }}
}}"""
ASSIGN = f"""
mutation ($input: AssignTicketInput!) {{
  assignTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} userErrors {{ field code }} }}
}}"""
RESOLVE = f"""
mutation ($input: ResolveTicketInput!) {{
  resolveTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} userErrors {{ field code }} }}
}}"""
REOPEN = f"""
mutation ($input: ReopenTicketInput!) {{
  reopenTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} userErrors {{ field code }} }}
}}"""
HAND_OFF = f"""
mutation ($input: HandOffTicketInput!) {{
  handOffTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} userErrors {{ field code }} }}
}}"""
TICKET = """
query ($id: ID!) {
  ticket(id: $id) { id status subject contact { id } replies { body } internalNotes { body author { email } } }
}"""
TICKETS = """
query ($filter: TicketFilter) { tickets(first: 100, filter: $filter) { totalCount edges { node { id status } } } }"""
QUEUES = "query { ticketQueues { id name department team { name } } }"
CREATE_CONTACT = """
mutation ($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { code } } }"""
TIMELINE = """
query ($r: ID!) { timeline(recordId: $r, first: 100) { edges { node { kind summary data } } } }"""
MY_NOTIFICATIONS = "subscription { myNotifications { kind summary recordType recordId data } }"
SERVICE_HISTORY = """
query ($id: ID!) {
  customer(id: $id) { serviceHistory(first: 10) { totalCount edges { node { id status resolution } } } }
}"""


async def _queue(gql: Any, department: str) -> str:
    queues = (await gql(QUEUES, as_=SERVICE))["data"]["ticketQueues"]
    return next(q["id"] for q in queues if q["department"] == department)


async def _ticket(gql: Any, *, customer_as: str = REP2, as_: str = SERVICE, **more: Any) -> dict[str, Any]:
    """A fresh ticket on a fresh customer of ``customer_as`` (with a contact), created by ``as_``."""
    customer = await new_customer(gql, as_=customer_as)
    contact = ok(await gql(CREATE_CONTACT, {"input": {"customerId": customer["id"], "name": "王芳",
                                                      "phone": "+86 139 0000 0000", "email": "wang@example.com"}},
                           as_=customer_as), "createContact")["contact"]
    result = await gql(CREATE, {"input": {"customerId": customer["id"], "contactId": contact["id"],
                                          "subject": "系统登录失败 Login fails", "description": "自今早起无法登录。",
                                          "channel": "PHONE", "priority": "HIGH", "category": "access", **more}},
                       as_=as_)
    return ok(result, "createTicket")["ticket"]


async def _timeline(gql: Any, app: Any, record_id: str, *, as_: str = SERVICE) -> list[dict[str, Any]]:
    await positioned(app)
    answer = await gql(TIMELINE, {"r": record_id}, as_=as_)
    assert "errors" not in answer, answer
    return [e["node"] for e in answer["data"]["timeline"]["edges"]]


async def test_every_org_has_a_queue_per_department(gql):
    queues = (await gql(QUEUES, as_=SERVICE))["data"]["ticketQueues"]
    assert [q["department"] for q in queues] == ["SERVICE", "SALES", "MARKETING", "DELIVERY"]
    # the demo's sales queue is worked by the sales team, its service queue by the service desk
    assert queues[1]["team"] == {"name": "华东销售一组"}
    assert queues[0]["team"] == {"name": "客服中心 Service desk"}


async def test_a_ticket_is_answered_handed_to_sales_resolved_and_reopened(gql, app):
    # given a ticket service opens on a customer of rep2's (rep1 may not see that customer)
    ticket = await _ticket(gql)
    assert (ticket["status"], ticket["queue"]["department"], ticket["channel"], ticket["priority"]) == (
        "NEW", "SERVICE", "PHONE", "HIGH")
    assert error_code(await gql(TICKET, {"id": ticket["id"]}, as_=REP1)) == "NOT_FOUND"
    # when service replies to the customer, then notes something for staff
    replied = ok(await gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "您好，我们正在排查。"}}, as_=SERVICE),
                 "replyToTicket")
    assert replied["ticket"]["status"] == "OPEN" and replied["ticket"]["firstResponseAt"] is not None
    assert (replied["message"]["internal"], replied["message"]["author"]) == (False, {"email": SERVICE})
    ok(await gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "客户可能要扩容", "internal": True}},
                 as_=SERVICE), "replyToTicket")
    read = (await gql(TICKET, {"id": ticket["id"]}, as_=SERVICE))["data"]["ticket"]
    assert read["replies"] == [{"body": "您好，我们正在排查。"}]
    assert read["internalNotes"] == [{"body": "客户可能要扩容", "author": {"email": SERVICE}}]
    # when service hands it to the sales queue, rep1 (of the sales team) listening
    sales = await _queue(gql, "SALES")
    async with connect(app, gql.token(REP1)) as socket:
        await subscribe_live(app, socket, "n", MY_NOTIFICATIONS, {})
        handed = ok(await gql(HAND_OFF, {"input": {"ticketId": ticket["id"], "toQueueId": sales,
                                                   "reason": "扩容询价 upsell", "note": "IT 总监下周出差"}},
                              as_=SERVICE), "handOffTicket")["ticket"]
        # then rep1 hears it live
        for _ in range(100):
            entry = (await socket.events("n", 1, "myNotifications"))[0]
            if entry["recordId"] == ticket["id"]:
                break
        assert entry["recordType"] == "Ticket"
        assert (entry["data"]["reason"], entry["data"]["toQueueId"]) == ("扩容询价 upsell", sales)
    assert (handed["queue"]["id"], handed["assignee"]) == (sales, None)
    # and the reason is on its timeline
    [entry] = [e for e in await _timeline(gql, app, ticket["id"]) if e["kind"] == "handed_off"]
    assert entry["data"]["reason"] == "扩容询价 upsell"
    assert entry["summary"] == "Handed off to the sales queue: 扩容询价 upsell"
    assert entry["data"]["note"]["body"] == "IT 总监下周出差"
    # and rep1 now sees the ticket (its team's queue) and works it
    assert (await gql(TICKET, {"id": ticket["id"]}, as_=REP1))["data"]["ticket"]["status"] == "OPEN"
    mine = ok(await gql(ASSIGN, {"input": {"ticketId": ticket["id"], "assigneeId": user_id(gql, REP1)}},
                        as_=REP1), "assignTicket")["ticket"]
    assert mine["assignee"] == {"email": REP1}
    # when rep1 resolves it
    resolved = ok(await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "已报价扩容方案。"}},
                            as_=REP1), "resolveTicket")["ticket"]
    assert (resolved["status"], resolved["resolution"]) == ("RESOLVED", "已报价扩容方案。")
    assert resolved["resolvedAt"] is not None
    # and service reopens it
    reopened = ok(await gql(REOPEN, {"input": {"ticketId": ticket["id"], "reason": "客户仍无法登录"}}, as_=SERVICE),
                  "reopenTicket")["ticket"]
    assert (reopened["status"], reopened["resolution"], reopened["resolvedAt"]) == ("OPEN", None, None)
    kinds = [e["kind"] for e in await _timeline(gql, app, ticket["id"])]
    assert kinds[:1] == ["created"]
    for kind in ("replied", "noted", "handed_off", "assigned", "resolved", "reopened"):
        assert kind in kinds


async def test_moves_the_status_does_not_allow_are_refused_and_change_nothing(gql):
    # given a resolved ticket
    ticket = await _ticket(gql)
    resolved = ok(await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "Fixed"}}, as_=SERVICE),
                  "resolveTicket")["ticket"]
    # when it is resolved again, moved back to OPEN by an update, handed off, or updated to PENDING
    again = await gql(RESOLVE, {"input": {"ticketId": ticket["id"], "resolution": "Again"}}, as_=SERVICE)
    back = await gql(UPDATE, {"input": {"id": ticket["id"], "version": resolved["version"], "status": "OPEN"}},
                     as_=SERVICE)
    pending = await gql(UPDATE, {"input": {"id": ticket["id"], "version": resolved["version"],
                                           "status": "PENDING_CUSTOMER"}}, as_=SERVICE)
    handed = await gql(HAND_OFF, {"input": {"ticketId": ticket["id"], "toQueueId": await _queue(gql, "SALES"),
                                            "reason": "why"}}, as_=SERVICE)
    # then each is refused with INVALID_TRANSITION
    assert user_errors(again, "resolveTicket") == [(["ticketId"], "INVALID_TRANSITION")]
    assert user_errors(back, "updateTicket") == [(["status"], "INVALID_TRANSITION")]
    assert user_errors(pending, "updateTicket") == [(["status"], "INVALID_TRANSITION")]
    assert user_errors(handed, "handOffTicket") == [(["ticketId"], "INVALID_TRANSITION")]
    # and an open ticket may not be reopened, nor resolved by an update, nor resolved without a resolution
    fresh = await _ticket(gql)
    reopen = await gql(REOPEN, {"input": {"ticketId": fresh["id"]}}, as_=SERVICE)
    assert user_errors(reopen, "reopenTicket") == [(["ticketId"], "INVALID_TRANSITION")]
    by_update = await gql(UPDATE, {"input": {"id": fresh["id"], "version": fresh["version"], "status": "RESOLVED"}},
                          as_=SERVICE)
    assert user_errors(by_update, "updateTicket") == [(["status"], "INVALID_TRANSITION")]
    blank = await gql(RESOLVE, {"input": {"ticketId": fresh["id"], "resolution": "  "}}, as_=SERVICE)
    assert user_errors(blank, "resolveTicket") == [(["resolution"], "REQUIRED")]
    same = await gql(HAND_OFF, {"input": {"ticketId": fresh["id"], "toQueueId": await _queue(gql, "SERVICE"),
                                          "reason": "why"}}, as_=SERVICE)
    assert user_errors(same, "handOffTicket") == [(["toQueueId"], "SAME_QUEUE")]
    stale = await gql(UPDATE, {"input": {"id": fresh["id"], "version": fresh["version"] + 5, "subject": "x"}},
                      as_=SERVICE)
    assert error_code(stale) == "CONFLICT"
    # and nothing changed
    after = (await gql(TICKET, {"id": ticket["id"]}, as_=SERVICE))["data"]["ticket"]
    assert after["status"] == "RESOLVED"
    after_fresh = (await gql(TICKET, {"id": fresh["id"]}, as_=SERVICE))["data"]["ticket"]
    assert (after_fresh["status"], after_fresh["subject"]) == ("NEW", fresh["subject"])


async def test_a_contact_of_another_customer_is_refused(gql):
    other = await new_customer(gql, as_=REP2)
    contact = ok(await gql(CREATE_CONTACT, {"input": {"customerId": other["id"], "name": "Li"}}, as_=REP2),
                 "createContact")["contact"]
    customer = await new_customer(gql, as_=REP2)
    result = await gql(CREATE, {"input": {"customerId": customer["id"], "contactId": contact["id"],
                                          "subject": "x"}}, as_=SERVICE)
    assert user_errors(result, "createTicket") == [(["contactId"], "MISMATCHED_RECORD")]


async def test_marketing_reads_tickets_without_internal_notes_or_whom_to_contact(gql, app):
    # given a ticket with a public reply and an internal note
    ticket = await _ticket(gql)
    ok(await gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "公开回复"}}, as_=SERVICE), "replyToTicket")
    ok(await gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "内部备注 secret", "internal": True}},
                 as_=SERVICE), "replyToTicket")
    # when marketing reads it
    result = await gql(TICKET, {"id": ticket["id"]}, as_=MARKETING)
    # then it sees the replies but neither the notes nor the contact
    read = result["data"]["ticket"]
    assert (read["replies"], read["internalNotes"], read["contact"]) == ([{"body": "公开回复"}], None, None)
    assert {e["extensions"]["code"] for e in result["errors"]} == {"FORBIDDEN_FIELD"}
    # and its timeline carries the note's event without the note
    [noted] = [e for e in await _timeline(gql, app, ticket["id"], as_=MARKETING) if e["kind"] == "noted"]
    assert "note" not in noted["data"] and "secret" not in str(noted)
    [for_service] = [e for e in await _timeline(gql, app, ticket["id"]) if e["kind"] == "noted"]
    assert for_service["data"]["note"]["body"] == "内部备注 secret"
    # and marketing may change nothing
    reply = await gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "hi"}}, as_=MARKETING)
    assert error_code(reply) == "FORBIDDEN"


async def test_each_role_sees_and_does_what_the_policy_says(gql):
    # given a ticket on a customer of rep1's and one on a customer of rep2's, both in the service queue
    of_rep1 = await _ticket(gql, customer_as=REP1)
    of_rep2 = await _ticket(gql, customer_as=REP2)
    # then service and marketing see both, sales only their customers', finance none
    for who, sees in ((SERVICE, {of_rep1["id"], of_rep2["id"]}), (MARKETING, {of_rep1["id"], of_rep2["id"]}),
                      (REP1, {of_rep1["id"]}), (REP2, {of_rep2["id"]}), (FINANCE, set())):
        listed = (await gql(TICKETS, {}, as_=who))["data"]["tickets"]["edges"]
        assert {e["node"]["id"] for e in listed} & {of_rep1["id"], of_rep2["id"]} == sees, who
    assert error_code(await gql(TICKET, {"id": of_rep1["id"]}, as_=FINANCE)) == "NOT_FOUND"
    assert error_code(await gql(TICKET, {"id": of_rep1["id"]}, as_=REP2)) == "NOT_FOUND"
    # and only service opens tickets
    customer = await new_customer(gql)
    for who in (REP1, MARKETING, FINANCE, PM):
        result = await gql(CREATE, {"input": {"customerId": customer["id"], "subject": "x"}}, as_=who)
        assert error_code(result) == "FORBIDDEN", who
    # and a rep works the tickets of their customers, finance nothing
    ok(await gql(REPLY, {"input": {"ticketId": of_rep1["id"], "body": "销售跟进"}}, as_=REP1), "replyToTicket")
    assert error_code(await gql(REPLY, {"input": {"ticketId": of_rep1["id"], "body": "x"}}, as_=FINANCE)) == \
        "FORBIDDEN"
    # and filters narrow the list
    by_customer = await gql(TICKETS, {"filter": {"customerId": of_rep1["customer"]["id"], "status": ["NEW", "OPEN"],
                                                 "priority": "HIGH"}}, as_=SERVICE)
    assert [e["node"]["id"] for e in by_customer["data"]["tickets"]["edges"]] == [of_rep1["id"]]


async def test_a_project_manager_sees_the_tickets_of_their_projects(gql):
    # given a project the PM manages (the demo's), and a ticket linked to it
    projects = (await gql("query { projects(first: 5) { edges { node { id customer { id } } } } }", as_=PM))
    project = projects["data"]["projects"]["edges"][0]["node"]
    linked = ok(await gql(CREATE, {"input": {"customerId": project["customer"]["id"], "projectId": project["id"],
                                             "subject": "上线后性能下降"}}, as_=SERVICE), "createTicket")["ticket"]
    unlinked = await _ticket(gql)
    # then the PM sees the linked one and not the other
    listed = {e["node"]["id"] for e in (await gql(TICKETS, {}, as_=PM))["data"]["tickets"]["edges"]}
    assert linked["id"] in listed and unlinked["id"] not in listed


async def test_a_customers_service_history_lists_its_tickets_with_their_outcome(gql):
    # given a customer of rep2's with a resolved ticket and an open one
    solved = await _ticket(gql)
    customer = solved["customer"]["id"]
    ok(await gql(RESOLVE, {"input": {"ticketId": solved["id"], "resolution": "重置密码后恢复"}}, as_=SERVICE),
       "resolveTicket")
    fresh = ok(await gql(CREATE, {"input": {"customerId": customer, "subject": "再次登录失败"}}, as_=SERVICE),
               "createTicket")["ticket"]
    # when service and rep2 read its service history
    for who in (SERVICE, REP2):
        history = (await gql(SERVICE_HISTORY, {"id": customer}, as_=who))["data"]["customer"]["serviceHistory"]
        # then it lists both, newest first, with their status and resolution
        assert history["totalCount"] == 2
        assert [e["node"] for e in history["edges"]] == [
            {"id": fresh["id"], "status": "NEW", "resolution": None},
            {"id": solved["id"], "status": "RESOLVED", "resolution": "重置密码后恢复"}]
    # and finance, who reads the customer but no tickets, gets none
    history = (await gql(SERVICE_HISTORY, {"id": customer}, as_=FINANCE))["data"]["customer"]["serviceHistory"]
    assert history == {"totalCount": 0, "edges": []}


CREATE_RULE = """
mutation ($input: CreateWorkflowRuleInput!) {
  createWorkflowRule(input: $input) { workflowRule { id objectType version } userErrors { field code } }
}"""
DELETE_RULE = """
mutation ($input: DeleteWorkflowRuleInput!) { deleteWorkflowRule(input: $input) { deletedId userErrors { code } } }"""


async def test_a_workflow_rule_on_tickets_acts_on_urgent_ones(gql, app):
    # given an admin's rule: an urgent ticket gets a comment for the duty manager
    rule = ok(await gql(CREATE_RULE, {"input": {
        "name": "紧急工单提醒 Urgent tickets", "objectType": "Ticket", "trigger": "CREATED",
        "conditions": {"field": "priority", "op": "eq", "value": "urgent"},
        "actions": [{"type": "ADD_COMMENT", "body": "紧急工单：请值班经理关注"}]}}, as_=ADMIN),
        "createWorkflowRule")["workflowRule"]
    assert rule["objectType"] == "Ticket"
    try:
        # when service opens an urgent ticket and a normal one
        urgent = await _ticket(gql, priority="URGENT")
        normal = await _ticket(gql, priority="NORMAL")
        # then the urgent one has the rule's comment on its timeline, the normal one none
        assert [e["summary"] for e in await _timeline(gql, app, urgent["id"]) if e["kind"] == "comment"] == [
            "Comment added"]
        assert [e for e in await _timeline(gql, app, normal["id"]) if e["kind"] == "comment"] == []
    finally:
        ok(await gql(DELETE_RULE, {"input": {"id": rule["id"], "version": rule["version"]}}, as_=ADMIN),
           "deleteWorkflowRule")
