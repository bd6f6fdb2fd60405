"""The sales flow over HTTP, as a front end sees it: lead → customer → opportunity → won."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event

from tandem.auth import mint_token
from tandem.demo import CUSTOMERS
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity, move_opportunity_stage
from tandem.domain.shared.clock import clock
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of
from tests.factories.names import unique

CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id name company status } userErrors { field code } }
}"""

CONVERT_LEAD = """
mutation ($input: ConvertLeadInput!) {
  convertLead(input: $input) {
    lead { id status convertedAt convertedCustomer { id } convertedOpportunity { id } }
    customer { id name owner { email } }
    contact { id name email }
    opportunity { id name stage amount currency probability version owner { email } }
    userErrors { field code }
  }
}"""

UPDATE_OPPORTUNITY = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity { id version nextStep amount expectedCloseDate }
    userErrors { field code }
  }
}"""

MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) {
    opportunity { id stage version probability closedAt lostReason }
    userErrors { field code }
  }
}"""

LOG_INTERACTION = """
mutation ($input: LogInteractionInput!) {
  logInteraction(input: $input) {
    interaction { id kind summary contact { id } opportunity { id } customer { id } loggedBy { email } }
    userErrors { field code }
  }
}"""

CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name } userErrors { field code } }
}"""

CREATE_CONTACT = """
mutation ($input: CreateContactInput!) {
  createContact(input: $input) { contact { id name } userErrors { field code } }
}"""

CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field code } }
}"""

CUSTOMER_VIEW = """
query ($id: ID!) {
  customer(id: $id) {
    id name owner { email }
    contacts(first: 10) { edges { node { id name email } } pageInfo { hasNextPage hasPreviousPage } }
    interactions(last: 5) {
      edges { node { kind summary contact { name } opportunity { name } loggedBy { email } } }
      pageInfo { hasNextPage hasPreviousPage }
    }
    opportunities(first: 10) {
      edges { node { id name stage amount currency probability closedAt owner { email } } }
      pageInfo { hasNextPage hasPreviousPage }
    }
  }
}"""

OPPORTUNITY_VIEW = """
query ($id: ID!) {
  opportunity(id: $id) {
    name stage amount currency probability closedAt lostReason version nextStep
    owner { email }
    customer { name }
    stageHistory { fromStage toStage changedBy { email } }
  }
}"""

LAST_INTERACTION = """
query ($id: ID!) {
  customer(id: $id) {
    interactions(last: 1) { edges { node { kind summary contact { id } opportunity { id } } } }
  }
}"""

CUSTOMER_NAMES = "{ customers(first: 100) { edges { node { id name } } } }"

CUSTOMER_NAME = "query ($id: ID!) { customer(id: $id) { name } }"

PIPELINE = "{ pipeline { key label probability isWon isClosed } }"

OPPORTUNITY_PAGE = """
query ($n: Int!) {
  opportunities(first: $n) {
    edges { node {
      name
      customer { name }
      owner { name }
      interactions(last: 5) { edges { node { kind } } }
      stageHistory { toStage }
    } }
  }
}"""


def lead_input(**overrides: Any) -> dict[str, Any]:
    return {"name": "赵敏", "company": unique("杭州云帆科技有限公司"), "email": "zhao@yunfan.example",
            "title": "CTO", "source": "EVENT", **overrides}


def conversion_input(lead_id: str, **overrides: Any) -> dict[str, Any]:
    return {"leadId": lead_id, "opportunityName": unique("ERP 实施项目"), "amount": "1200000", "currency": "CNY",
            **overrides}


async def mutate(gql: Any, document: str, payload: str, input: dict[str, Any], *, as_: str = "rep1@demo.test"
                 ) -> dict[str, Any]:
    """Run a mutation that must succeed; returns its payload."""
    result = await gql(document, {"input": input}, as_=as_)
    assert "errors" not in result, result
    assert result["data"][payload]["userErrors"] == [], result
    return result["data"][payload]


async def converted_lead(gql: Any, **overrides: Any) -> dict[str, Any]:
    lead = (await mutate(gql, CREATE_LEAD, "createLead", lead_input()))["lead"]
    return await mutate(gql, CONVERT_LEAD, "convertLead", conversion_input(lead["id"], **overrides))


async def demo_customer_with_contact(gql: Any, as_: str = "rep1@demo.test") -> tuple[str, str]:
    customer = (await mutate(gql, CREATE_CUSTOMER, "createCustomer", {"name": unique("Customer")}, as_=as_))
    contact = await mutate(gql, CREATE_CONTACT, "createContact",
                           {"customerId": customer["customer"]["id"], "name": "Jordan Lee"}, as_=as_)
    return customer["customer"]["id"], contact["contact"]["id"]


# --- the whole flow --------------------------------------------------------------------------


async def test_lead_to_won_opportunity_flow(gql):
    # given: a lead
    created = await mutate(gql, CREATE_LEAD, "createLead", lead_input())
    lead = created["lead"]
    assert lead["status"] == "NEW"

    # when: it is converted
    converted = await mutate(gql, CONVERT_LEAD, "convertLead",
                             conversion_input(lead["id"], opportunityName="ERP 实施项目 一期"))
    # then
    customer, contact, opportunity = converted["customer"], converted["contact"], converted["opportunity"]
    assert converted["lead"]["status"] == "CONVERTED"
    assert converted["lead"]["convertedAt"] is not None
    assert converted["lead"]["convertedCustomer"] == {"id": customer["id"]}
    assert converted["lead"]["convertedOpportunity"] == {"id": opportunity["id"]}
    assert customer["name"] == lead["company"]
    assert customer["owner"] == {"email": "rep1@demo.test"}
    assert {k: contact[k] for k in ("name", "email")} == {"name": "赵敏", "email": "zhao@yunfan.example"}
    assert {k: v for k, v in opportunity.items() if k != "id"} == {
        "name": "ERP 实施项目 一期", "stage": "initial_contact", "amount": "1200000.00", "currency": "CNY",
        "probability": 10, "version": 1, "owner": {"email": "rep1@demo.test"}}

    # when: the rep updates it with the version read
    close = (date.today() + timedelta(days=60)).isoformat()
    updated = await mutate(gql, UPDATE_OPPORTUNITY, "updateOpportunity",
                           {"id": opportunity["id"], "version": 1, "nextStep": "安排技术交流会",
                            "expectedCloseDate": close})
    # then
    assert updated["opportunity"] == {"id": opportunity["id"], "version": 2, "nextStep": "安排技术交流会",
                                      "amount": "1200000.00", "expectedCloseDate": close}

    # when: someone still holding version 1 writes
    stale = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": 1, "nextStep": "Stale"}})
    # then
    [error] = stale["errors"]
    assert error["extensions"]["code"] == "CONFLICT"
    assert stale.get("data") is None  # the payload is non-null, so the error nulls the whole response

    # when: the deal moves through the pipeline, the manager closing it
    version = 2
    for stage, probability, as_ in (("proposal", 40, "rep1@demo.test"), ("negotiation", 70, "rep1@demo.test"),
                                    ("won", 100, "manager@demo.test")):
        moved = await mutate(gql, MOVE_STAGE, "moveOpportunityStage",
                             {"id": opportunity["id"], "version": version, "stage": stage}, as_=as_)
        version += 1
        # then
        assert {k: moved["opportunity"][k] for k in ("stage", "version", "probability", "lostReason")} == {
            "stage": stage, "version": version, "probability": probability, "lostReason": None}
        assert (moved["opportunity"]["closedAt"] is not None) == (stage == "won")

    # when: the rep logs the signing meeting
    await mutate(gql, LOG_INTERACTION, "logInteraction",
                 {"customerId": customer["id"], "contactId": contact["id"], "opportunityId": opportunity["id"],
                  "kind": "MEETING", "summary": "合同签署"})

    # then: the customer page shows everything
    view = (await gql(CUSTOMER_VIEW, {"id": customer["id"]}))["data"]["customer"]
    assert view["name"] == lead["company"]
    assert view["owner"] == {"email": "rep1@demo.test"}
    assert view["contacts"] == {
        "edges": [{"node": {"id": contact["id"], "name": "赵敏", "email": "zhao@yunfan.example"}}],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False}}
    assert view["interactions"] == {
        "edges": [{"node": {"kind": "MEETING", "summary": "合同签署", "contact": {"name": "赵敏"},
                            "opportunity": {"name": "ERP 实施项目 一期"}, "loggedBy": {"email": "rep1@demo.test"}}}],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False}}
    [edge] = view["opportunities"]["edges"]
    won = edge["node"]
    assert won.pop("closedAt") is not None
    assert won == {"id": opportunity["id"], "name": "ERP 实施项目 一期", "stage": "won", "amount": "1200000.00",
                   "currency": "CNY", "probability": 100, "owner": {"email": "rep1@demo.test"}}
    assert view["opportunities"]["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}

    # then: the opportunity page shows its history
    detail = (await gql(OPPORTUNITY_VIEW, {"id": opportunity["id"]}))["data"]["opportunity"]
    assert detail.pop("closedAt") is not None
    assert detail == {
        "name": "ERP 实施项目 一期", "stage": "won", "amount": "1200000.00", "currency": "CNY", "probability": 100,
        "lostReason": None, "version": 5, "nextStep": "安排技术交流会", "owner": {"email": "rep1@demo.test"},
        "customer": {"name": lead["company"]},
        "stageHistory": [
            {"fromStage": None, "toStage": "initial_contact", "changedBy": {"email": "rep1@demo.test"}},
            {"fromStage": "initial_contact", "toStage": "proposal", "changedBy": {"email": "rep1@demo.test"}},
            {"fromStage": "proposal", "toStage": "negotiation", "changedBy": {"email": "rep1@demo.test"}},
            {"fromStage": "negotiation", "toStage": "won", "changedBy": {"email": "manager@demo.test"}},
        ],
    }


async def test_converting_a_lead_twice_reports_already_converted(gql):
    # given
    converted = await converted_lead(gql)
    # when
    result = await gql(CONVERT_LEAD, {"input": conversion_input(converted["lead"]["id"])})
    # then
    assert result["data"]["convertLead"] == {"lead": None, "customer": None, "contact": None, "opportunity": None,
                                             "userErrors": [{"field": ["leadId"], "code": "ALREADY_CONVERTED"}]}


async def test_moving_to_lost_without_reason_reports_lost_reason_required(gql):
    # given
    opportunity = (await converted_lead(gql))["opportunity"]
    # when
    result = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": 1, "stage": "lost"}})
    # then
    assert result["data"]["moveOpportunityStage"] == {
        "opportunity": None, "userErrors": [{"field": ["lostReason"], "code": "LOST_REASON_REQUIRED"}]}


# --- interactions ----------------------------------------------------------------------------


async def test_logged_interaction_with_contact_and_opportunity_is_the_customers_latest(gql):
    # given
    converted = await converted_lead(gql)
    customer, contact, opportunity = converted["customer"], converted["contact"], converted["opportunity"]
    await mutate(gql, LOG_INTERACTION, "logInteraction",
                 {"customerId": customer["id"], "kind": "CALL", "summary": "首次电话沟通",
                  "occurredAt": "2026-01-05T09:00:00+08:00"})
    # when
    logged = await mutate(gql, LOG_INTERACTION, "logInteraction",
                          {"customerId": customer["id"], "contactId": contact["id"],
                           "opportunityId": opportunity["id"], "kind": "VISIT", "summary": "现场拜访，演示方案"})
    # then
    interaction = logged["interaction"]
    assert {k: v for k, v in interaction.items() if k != "id"} == {
        "kind": "VISIT", "summary": "现场拜访，演示方案", "contact": {"id": contact["id"]},
        "opportunity": {"id": opportunity["id"]}, "customer": {"id": customer["id"]},
        "loggedBy": {"email": "rep1@demo.test"}}
    latest = (await gql(LAST_INTERACTION, {"id": customer["id"]}))["data"]["customer"]["interactions"]["edges"]
    assert latest == [{"node": {"kind": "VISIT", "summary": "现场拜访，演示方案", "contact": {"id": contact["id"]},
                                "opportunity": {"id": opportunity["id"]}}}]


async def test_logging_an_interaction_with_another_customers_contact_is_mismatched(gql):
    # given
    customer = (await converted_lead(gql))["customer"]
    _, other_contact = await demo_customer_with_contact(gql)
    # when
    result = await gql(LOG_INTERACTION, {"input": {"customerId": customer["id"], "contactId": other_contact,
                                                   "kind": "CALL", "summary": "Wrong person"}})
    # then
    assert result["data"]["logInteraction"] == {
        "interaction": None, "userErrors": [{"field": ["contactId"], "code": "MISMATCHED_RECORD"}]}
    latest = (await gql(LAST_INTERACTION, {"id": customer["id"]}))["data"]["customer"]["interactions"]["edges"]
    assert latest == []


async def test_logging_an_interaction_with_another_customers_opportunity_is_mismatched(gql):
    # given
    customer = (await converted_lead(gql))["customer"]
    other_opportunity = (await converted_lead(gql))["opportunity"]
    # when
    result = await gql(LOG_INTERACTION, {"input": {"customerId": customer["id"], "kind": "CALL",
                                                   "opportunityId": other_opportunity["id"], "summary": "Wrong deal"}})
    # then
    assert result["data"]["logInteraction"] == {
        "interaction": None, "userErrors": [{"field": ["opportunityId"], "code": "MISMATCHED_RECORD"}]}


# --- tenants ---------------------------------------------------------------------------------


async def test_acme_rep_sees_none_of_demos_customers(gql):
    # given
    await converted_lead(gql)
    demo = await gql(CUSTOMER_NAMES, as_="rep1@demo.test")
    demo_names = {e["node"]["name"] for e in demo["data"]["customers"]["edges"]} | {c[0] for c in CUSTOMERS}
    # when
    acme = await gql(CUSTOMER_NAMES, as_="rep@acme.test")
    # then
    acme_names = {e["node"]["name"] for e in acme["data"]["customers"]["edges"]}
    assert "Acme Secret Customer" in acme_names
    assert acme_names.isdisjoint(demo_names)


async def test_acme_rep_gets_not_found_for_a_demo_customer(gql):
    # given
    demo = await gql(CUSTOMER_NAMES, as_="rep1@demo.test")
    demo_id = next(e["node"]["id"] for e in demo["data"]["customers"]["edges"]
                   if e["node"]["name"] == "华为技术有限公司")
    # when
    result = await gql(CUSTOMER_NAME, {"id": demo_id}, as_="rep@acme.test")
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert result["data"] == {"customer": None}


# --- pipeline --------------------------------------------------------------------------------


async def test_pipeline_lists_the_five_default_stages_in_order(gql):
    # when
    result = await gql(PIPELINE)
    # then
    assert result["data"]["pipeline"] == [
        {"key": "initial_contact", "label": "初步接触", "probability": 10, "isWon": False, "isClosed": False},
        {"key": "proposal", "label": "方案报价", "probability": 40, "isWon": False, "isClosed": False},
        {"key": "negotiation", "label": "谈判中", "probability": 70, "isWon": False, "isClosed": False},
        {"key": "won", "label": "已签约", "probability": 100, "isWon": True, "isClosed": True},
        {"key": "lost", "label": "输单", "probability": 0, "isWon": False, "isClosed": True},
    ]


# --- statements per page ---------------------------------------------------------------------


async def org_with_opportunities(db: Any, count: int) -> Any:
    """A fresh org whose rep owns ``count`` opportunities over 12 customers, each with history."""
    async with db.write() as session:
        org = await create_org(session, unique("Load Org"), "CNY")
        user = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@load.test", name="Load Rep",
                                 roles=["sales_rep"])
        actor = actor_of(user)
        customers = [await create_customer(session, actor, CustomerInput(name=f"Load customer {i}"))
                     for i in range(12)]
        for i in range(count):
            customer = customers[i % len(customers)]
            opportunity = await create_opportunity(session, actor, OpportunityInput(
                customer_id=customer.id, name=f"Load deal {i}", amount=Decimal("1000.00")))
            if i % 2:
                opportunity = await move_opportunity_stage(session, actor, opportunity.id, opportunity.version,
                                                           "proposal")
            for minutes in range(i % 7):
                await log_interaction(session, actor, InteractionInput(
                    customer_id=customer.id, opportunity_id=opportunity.id, kind=InteractionKind.CALL,
                    summary=f"call {minutes}", occurred_at=clock.now() - timedelta(minutes=minutes)))
    return user


async def statements_for(app: Any, client: Any, token: str, n: int) -> tuple[int, dict[str, Any]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await client.post("/graphql", json={"query": OPPORTUNITY_PAGE, "variables": {"n": n}},
                                      headers={"authorization": f"Bearer {token}"})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    return len(statements), response.json()


async def test_page_of_opportunities_costs_the_same_statements_for_10_and_100(app, client, db, settings):
    # given
    user = await org_with_opportunities(db, 110)
    token = mint_token(settings, user)
    await statements_for(app, client, token, 10)  # warm up connections and caches
    # when
    small, small_result = await statements_for(app, client, token, 10)
    large, large_result = await statements_for(app, client, token, 100)
    # then
    assert "errors" not in small_result and "errors" not in large_result
    small_edges = small_result["data"]["opportunities"]["edges"]
    large_edges = large_result["data"]["opportunities"]["edges"]
    assert (len(small_edges), len(large_edges)) == (10, 100)
    assert all(e["node"]["customer"]["name"].startswith("Load customer") for e in large_edges)
    assert {e["node"]["owner"]["name"] for e in large_edges} == {"Load Rep"}
    assert sum(1 for e in large_edges if e["node"]["interactions"]["edges"]) > 50
    assert all(e["node"]["stageHistory"][0] == {"toStage": "initial_contact"} for e in large_edges)
    assert small == large
    assert large <= 10
