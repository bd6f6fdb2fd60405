"""Tenancy cases of the service desk: Demo's seeded tickets and queues, and a ticket of Acme's (on its secret
customer) — Acme may name no Demo ticket, queue, customer, contact, linked record or user in any position, and
its lists hold only its own tickets and queues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tandem.domain.crm.customer import Customer
from tandem.domain.service.queue import TicketQueue
from tandem.domain.service.ticket import Ticket
from tandem.schema.node import to_global_id

from . import ACME, Case, Records, created, first_row, input_of

PAYLOAD = "{ ticket { id version } userErrors { field code } }"
CREATE_TICKET = f"mutation ($input: CreateTicketInput!) {{ createTicket(input: $input) {PAYLOAD} }}"
UPDATE_TICKET = f"mutation ($input: UpdateTicketInput!) {{ updateTicket(input: $input) {PAYLOAD} }}"
REPLY_TO_TICKET = """
mutation ($input: ReplyToTicketInput!) { replyToTicket(input: $input) { ticket { id } userErrors { code } } }"""
ASSIGN_TICKET = f"mutation ($input: AssignTicketInput!) {{ assignTicket(input: $input) {PAYLOAD} }}"
RESOLVE_TICKET = f"mutation ($input: ResolveTicketInput!) {{ resolveTicket(input: $input) {PAYLOAD} }}"
REOPEN_TICKET = f"mutation ($input: ReopenTicketInput!) {{ reopenTicket(input: $input) {PAYLOAD} }}"
HAND_OFF_TICKET = f"mutation ($input: HandOffTicketInput!) {{ handOffTicket(input: $input) {PAYLOAD} }}"
TICKETS = """
query ($filter: TicketFilter) {
  tickets(first: 100, filter: $filter) { totalCount edges { node { id customer { id } queue { id } } } }
}"""
TICKET_QUEUES = "query { ticketQueues { id name team { id } } }"
SUGGESTED_ARTICLES = "query ($t: ID!) { suggestedArticles(ticketId: $t) { id title } }"


@pytest.fixture(scope="module")
async def acme_ticket(gql, db, users) -> AsyncIterator[dict[str, Any]]:
    async with db.read() as session:
        customer = await first_row(session, Customer, users[ACME].org_id, Customer.name == "Acme Secret Customer")
    made = await created(gql, CREATE_TICKET, "createTicket", ACME, customerId=to_global_id("Customer", customer.id),
                         subject="Acme 工单 tenancy probe")
    yield made["ticket"]


async def records(db, users, acme_ticket: dict[str, Any]) -> Records:
    demo_org, acme_org = users["admin@demo.test"].org_id, users[ACME].org_id
    async with db.read() as session:
        demo_ticket = await first_row(session, Ticket, demo_org)
        demo_queue = await first_row(session, TicketQueue, demo_org)
        acme_queue = await first_row(session, TicketQueue, acme_org)
    return Records(demo={"Ticket": to_global_id("Ticket", demo_ticket.id),
                         "TicketQueue": to_global_id("TicketQueue", demo_queue.id)},
                   demo_version={"Ticket": demo_ticket.version},
                   acme={"Ticket": acme_ticket["id"], "TicketQueue": to_global_id("TicketQueue", acme_queue.id)},
                   acme_version={"Ticket": acme_ticket["version"]})


def _acme_ticket(w: Any, **more: Any) -> dict[str, Any]:
    return input_of(id=w.acme["Ticket"], version=w.acme_version["Ticket"], **more)


NOT_FOUND_CASES = [
    Case("createTicket.customerId", CREATE_TICKET, "createTicket", lambda w, _: input_of(
        customerId=w.demo["Customer"], subject="x")),
    *[Case(f"createTicket.{key}", CREATE_TICKET, "createTicket", lambda w, _, key=key, t=t: input_of(
        customerId=w.acme["Customer"], subject="x", **{key: w.demo[t]}))
      for key, t in (("contactId", "Contact"), ("contractId", "Contract"), ("projectId", "Project"),
                     ("opportunityId", "Opportunity"), ("queueId", "TicketQueue"), ("assigneeId", "User"))],
    Case("updateTicket.id", UPDATE_TICKET, "updateTicket", lambda w, _: input_of(
        id=w.demo["Ticket"], version=w.demo_version["Ticket"], subject="Acme was here")),
    *[Case(f"updateTicket.{key}", UPDATE_TICKET, "updateTicket", lambda w, _, key=key, t=t: _acme_ticket(
        w, **{key: w.demo[t]}))
      for key, t in (("contactId", "Contact"), ("contractId", "Contract"), ("projectId", "Project"),
                     ("opportunityId", "Opportunity"))],
    Case("replyToTicket.ticketId", REPLY_TO_TICKET, "replyToTicket", lambda w, _: input_of(
        ticketId=w.demo["Ticket"], body="Acme was here")),
    Case("assignTicket.ticketId", ASSIGN_TICKET, "assignTicket", lambda w, _: input_of(
        ticketId=w.demo["Ticket"], assigneeId=w.acme["Rep"])),
    Case("assignTicket.assigneeId", ASSIGN_TICKET, "assignTicket", lambda w, _: input_of(
        ticketId=w.acme["Ticket"], assigneeId=w.demo["User"])),
    Case("resolveTicket.ticketId", RESOLVE_TICKET, "resolveTicket", lambda w, _: input_of(
        ticketId=w.demo["Ticket"], resolution="Acme was here")),
    Case("resolveTicket.ticketId (publishArticle)", RESOLVE_TICKET, "resolveTicket", lambda w, _: input_of(
        ticketId=w.demo["Ticket"], resolution="Acme was here", publishArticle=True)),
    Case("suggestedArticles.ticketId", SUGGESTED_ARTICLES, "suggestedArticles", lambda w, _: {"t": w.demo["Ticket"]},
         nullable=False),
    Case("reopenTicket.ticketId", REOPEN_TICKET, "reopenTicket", lambda w, _: input_of(ticketId=w.demo["Ticket"])),
    Case("handOffTicket.ticketId", HAND_OFF_TICKET, "handOffTicket", lambda w, _: input_of(
        ticketId=w.demo["Ticket"], toQueueId=w.acme["TicketQueue"], reason="Acme was here")),
    Case("handOffTicket.toQueueId", HAND_OFF_TICKET, "handOffTicket", lambda w, _: input_of(
        ticketId=w.acme["Ticket"], toQueueId=w.demo["TicketQueue"], reason="Acme was here")),
]
UNNAMED_CASES: list[Case] = []
CONNECTION_CASES = [Case("tickets", TICKETS, "tickets", lambda w, _: {})]
FILTERED_CASES = [
    Case("tickets(customerId: Demo customer)", TICKETS, "tickets", lambda w, _: {
        "filter": {"customerId": w.demo["Customer"]}}),
    Case("tickets(queueId: Demo queue)", TICKETS, "tickets", lambda w, _: {
        "filter": {"queueId": w.demo["TicketQueue"]}}),
    Case("tickets(assigneeId: Demo user)", TICKETS, "tickets", lambda w, _: {"filter": {"assigneeId": w.demo["User"]}}),
]
MODELS: dict[str, Any] = {"tickets": Ticket}
LIST_CASES = [Case("ticketQueues", TICKET_QUEUES, "ticketQueues", lambda w, _: {})]
NO_ID_QUERIES: set[str] = set()
