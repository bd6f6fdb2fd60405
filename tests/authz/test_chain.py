"""Team scope follows the management chain to any depth, and only that chain: in a fresh org,
vp → director → manager → rep (plus a sibling rep under the manager, and a peer manager in another
branch under the vp), the rep's customer and opportunity show to the manager, director and vp,
and to nobody else; moving the rep under another manager counts from the very next request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tandem.domain.crm.contact import ContactInput, create_contact
from tandem.domain.crm.customer import CustomerInput, create_customer
from tandem.domain.crm.interaction import InteractionInput, InteractionKind, log_interaction
from tandem.domain.pipeline.opportunity import OpportunityInput, create_opportunity
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user, set_manager
from tandem.schema.node import to_global_id
from tests.conftest import GraphQLClient, actor_of

# who: (roles, manager)
CHAIN = {
    "admin": (["admin"], None),
    "vp": (["sales_manager"], None),
    "director": (["sales_manager"], "vp"),
    "manager": (["sales_manager"], "director"),
    "rep": (["sales_rep"], "manager"),
    "other_rep": (["sales_rep"], "manager"),
    "peer": (["sales_manager"], "vp"),
}
ABOVE_THE_REP = ["manager", "director", "vp"]
OUTSIDE_THE_CHAIN = ["peer", "other_rep"]

CUSTOMERS = "{ customers(first: 100) { edges { node { id name } } } }"
OPPORTUNITIES = "{ opportunities(first: 100) { edges { node { id name customer { name } owner { email } } } } }"

CUSTOMER = """
query ($id: ID!) {
  customer(id: $id) {
    name
    owner { email }
    contacts(first: 10) { edges { node { name } } }
    interactions(first: 10) { edges { node { summary opportunity { name } } } }
    opportunities(first: 10) { edges { node { name } } }
  }
}"""

OPPORTUNITY = """
query ($id: ID!) {
  opportunity(id: $id) {
    name
    customer { name }
    interactions(first: 10) { edges { node { summary } } }
  }
}"""

NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename
    ... on Customer { name }
    ... on Opportunity { name }
    ... on Contact { name customer { name } }
    ... on Interaction { summary customer { name } opportunity { name } }
  }
}"""

SET_MANAGER = """
mutation ($input: SetManagerInput!) {
  setManager(input: $input) { user { manager { email } } userErrors { field code } }
}"""


@dataclass
class Chain:
    users: dict[str, User]
    gql: GraphQLClient
    customer: str
    contact: str
    interaction: str
    opportunity: str
    customer_name: str
    opportunity_name: str


async def build_chain(db, client, settings) -> Chain:
    """A fresh org (its policy seeds on the first request) and a customer of the rep's with a
    contact, an opportunity and an interaction."""
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, f"Chain Org {tag}", "CNY")
        users: dict[str, User] = {}
        for who, (roles, manager) in CHAIN.items():
            users[who] = await create_user(session, org.id, email=f"{who}-{tag}@chain.test", name=who, roles=roles,
                                           manager_id=users[manager].id if manager else None)
        rep = actor_of(users["rep"])
        customer = await create_customer(session, rep, CustomerInput(name=f"Rep customer {tag}"))
        contact = await create_contact(session, rep, ContactInput(customer_id=customer.id, name=f"Rep contact {tag}"))
        opportunity = await create_opportunity(session, rep, OpportunityInput(
            customer_id=customer.id, name=f"Rep deal {tag}", amount=Decimal("1000.00")))
        interaction = await log_interaction(session, rep, InteractionInput(
            customer_id=customer.id, contact_id=contact.id, opportunity_id=opportunity.id,
            kind=InteractionKind.MEETING, summary=f"Rep meeting {tag}"))
    return Chain(
        users=users, gql=GraphQLClient(client, settings, users),
        customer=to_global_id("Customer", customer.id), contact=to_global_id("Contact", contact.id),
        interaction=to_global_id("Interaction", interaction.id),
        opportunity=to_global_id("Opportunity", opportunity.id),
        customer_name=customer.name, opportunity_name=opportunity.name,
    )


@pytest.fixture(scope="module")
async def chain(db, client, settings) -> Chain:
    return await build_chain(db, client, settings)


@pytest.fixture
async def fresh_chain(db, client, settings) -> Chain:
    """A chain of the test's own, for tests that rearrange it."""
    return await build_chain(db, client, settings)


async def sees(chain: Chain, who: str) -> dict[str, Any]:
    """What ``who`` sees of the rep's records through every way in."""
    gql = chain.gql
    customers = await gql(CUSTOMERS, as_=who)
    opportunities = await gql(OPPORTUNITIES, as_=who)
    customer = await gql(CUSTOMER, {"id": chain.customer}, as_=who)
    opportunity = await gql(OPPORTUNITY, {"id": chain.opportunity}, as_=who)
    nodes = {t: await gql(NODE, {"id": gid}, as_=who) for t, gid in (
        ("Customer", chain.customer), ("Contact", chain.contact), ("Interaction", chain.interaction),
        ("Opportunity", chain.opportunity))}
    return {
        "customers": {e["node"]["name"] for e in customers["data"]["customers"]["edges"]},
        "opportunities": {e["node"]["name"] for e in opportunities["data"]["opportunities"]["edges"]},
        "customer": customer, "opportunity": opportunity, "nodes": nodes,
    }


def codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def assert_sees_everything(chain: Chain, seen: dict[str, Any]) -> None:
    assert chain.customer_name in seen["customers"]
    assert chain.opportunity_name in seen["opportunities"]
    tag = chain.customer_name.rsplit(" ", 1)[1]
    assert seen["customer"] == {"data": {"customer": {
        "name": chain.customer_name,
        "owner": {"email": f"rep-{tag}@chain.test"},
        "contacts": {"edges": [{"node": {"name": f"Rep contact {tag}"}}]},
        "interactions": {"edges": [{"node": {"summary": f"Rep meeting {tag}",
                                             "opportunity": {"name": chain.opportunity_name}}}]},
        "opportunities": {"edges": [{"node": {"name": chain.opportunity_name}}]},
    }}}
    assert seen["opportunity"] == {"data": {"opportunity": {
        "name": chain.opportunity_name, "customer": {"name": chain.customer_name},
        "interactions": {"edges": [{"node": {"summary": f"Rep meeting {tag}"}}]},
    }}}
    assert seen["nodes"] == {
        "Customer": {"data": {"node": {"__typename": "Customer", "name": chain.customer_name}}},
        "Contact": {"data": {"node": {"__typename": "Contact", "name": f"Rep contact {tag}",
                                      "customer": {"name": chain.customer_name}}}},
        "Interaction": {"data": {"node": {"__typename": "Interaction", "summary": f"Rep meeting {tag}",
                                          "customer": {"name": chain.customer_name},
                                          "opportunity": {"name": chain.opportunity_name}}}},
        "Opportunity": {"data": {"node": {"__typename": "Opportunity", "name": chain.opportunity_name}}},
    }


def assert_sees_nothing(chain: Chain, seen: dict[str, Any]) -> None:
    assert chain.customer_name not in seen["customers"]
    assert chain.opportunity_name not in seen["opportunities"]
    assert (codes(seen["customer"]), seen["customer"]["data"]) == (["NOT_FOUND"], {"customer": None})
    assert (codes(seen["opportunity"]), seen["opportunity"]["data"]) == (["NOT_FOUND"], {"opportunity": None})
    assert {t: (codes(r), r["data"]) for t, r in seen["nodes"].items()} == {
        t: (["NOT_FOUND"], {"node": None}) for t in ("Customer", "Contact", "Interaction", "Opportunity")}


# --- who sees the rep's records --------------------------------------------------------------


async def test_rep_sees_own_customer_and_opportunity(chain):
    # when
    seen = await sees(chain, "rep")
    # then
    assert_sees_everything(chain, seen)


@pytest.mark.parametrize("who", ABOVE_THE_REP)
async def test_everyone_up_the_chain_sees_the_reps_records(chain, who):
    # when
    seen = await sees(chain, who)
    # then
    assert_sees_everything(chain, seen)


@pytest.mark.parametrize("who", OUTSIDE_THE_CHAIN)
async def test_nobody_outside_the_chain_sees_the_reps_records(chain, who):
    # when
    seen = await sees(chain, who)
    # then
    assert_sees_nothing(chain, seen)


async def test_lists_up_the_chain_hold_exactly_the_subtrees_records(chain):
    # given: only the rep owns anything in this org
    # when
    lists = {who: (await sees(chain, who))["customers"] for who in ("vp", "director", "manager", "peer")}
    # then
    assert lists == {"vp": {chain.customer_name}, "director": {chain.customer_name},
                     "manager": {chain.customer_name}, "peer": set()}


# --- moving the rep --------------------------------------------------------------------------


async def test_set_manager_mutation_moves_the_reps_records_on_the_next_request(fresh_chain):
    # given
    chain = fresh_chain
    assert_sees_everything(chain, await sees(chain, "director"))
    assert_sees_nothing(chain, await sees(chain, "peer"))
    # when
    result = await chain.gql(SET_MANAGER, {"input": {
        "userId": to_global_id("User", chain.users["rep"].id),
        "managerId": to_global_id("User", chain.users["peer"].id)}}, as_="admin")
    # then
    assert result == {"data": {"setManager": {"user": {"manager": {"email": chain.users["peer"].email}},
                                              "userErrors": []}}}
    assert_sees_everything(chain, await sees(chain, "peer"))
    assert_sees_everything(chain, await sees(chain, "vp"))
    assert_sees_nothing(chain, await sees(chain, "manager"))
    assert_sees_nothing(chain, await sees(chain, "director"))


async def test_set_manager_in_the_domain_moves_the_reps_records_on_the_next_request(db, fresh_chain):
    # given
    chain = fresh_chain
    assert_sees_everything(chain, await sees(chain, "manager"))
    assert_sees_nothing(chain, await sees(chain, "peer"))
    # when
    async with db.write(chain.users["admin"].org_id) as session:
        await set_manager(session, actor_of(chain.users["admin"]), chain.users["rep"].id, chain.users["peer"].id)
    # then
    assert_sees_everything(chain, await sees(chain, "peer"))
    assert_sees_nothing(chain, await sees(chain, "manager"))
    assert_sees_nothing(chain, await sees(chain, "director"))
    assert_sees_everything(chain, await sees(chain, "vp"))


async def test_detaching_the_manager_cuts_the_whole_chain_above(db, fresh_chain):
    # given
    chain = fresh_chain
    # when: the manager (with the rep below) leaves the director's branch
    async with db.write(chain.users["admin"].org_id) as session:
        await set_manager(session, actor_of(chain.users["admin"]), chain.users["manager"].id, None)
    # then
    assert_sees_everything(chain, await sees(chain, "manager"))
    assert_sees_nothing(chain, await sees(chain, "director"))
    assert_sees_nothing(chain, await sees(chain, "vp"))
