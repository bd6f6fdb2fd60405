"""Row scopes in SQL: the WHERE clause for an actor and a type is built once and reused, and stays current,
because the database evaluates the management chain and the shares in every statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import select

from tandem.db import Database
from tandem.domain.crm.customer import Customer, CustomerInput, create_customer
from tandem.domain.pipeline.opportunity import Opportunity, OpportunityInput, create_opportunity
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.scope import Scope
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.scope import owned_rows
from tandem.domain.tenancy.sharing import share_record
from tandem.domain.tenancy.user import User, create_user
from tests.conftest import actor_of

TEAM = {"Customer": Scope.TEAM, "Opportunity": Scope.TEAM}
OWN = {"Customer": Scope.OWN, "Opportunity": Scope.OWN}


@dataclass
class Team:
    org_id: int
    manager: User
    rep: User
    peer: User
    deal: int


async def new_team(db: Database) -> Team:
    """A fresh org: a manager over a rep who owns a customer with one deal, and a peer outside the chain."""
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        org = await create_org(session, f"Scope Org {tag}", "CNY")
        manager = await create_user(session, org.id, email=f"manager-{tag}@scope.test", name="manager",
                                    roles=["sales_manager"])
        rep = await create_user(session, org.id, email=f"rep-{tag}@scope.test", name="rep", roles=["sales_rep"],
                                manager_id=manager.id)
        peer = await create_user(session, org.id, email=f"peer-{tag}@scope.test", name="peer", roles=["sales_rep"])
        deal = await new_deal(session, rep, f"Rep deal {tag}")
    return Team(org.id, manager, rep, peer, deal)


async def new_deal(session, owner: User, name: str) -> int:
    actor = actor_of(owner)
    customer = await create_customer(session, actor, CustomerInput(name=f"Customer of {name}"))
    opportunity = await create_opportunity(session, actor, OpportunityInput(
        customer_id=customer.id, name=name, amount=Decimal("100.00")))
    return opportunity.id


def scoped(user: User, scopes: dict[str, Scope]) -> Actor:
    return replace(actor_of(user), scopes=scopes)


async def visible_deals(db: Database, actor: Actor) -> set[int]:
    async with db.read() as session:
        rows = await session.scalars(select(Opportunity.id).where(
            Opportunity.org_id == actor.org_id, owned_rows(actor, "Opportunity", Opportunity)))
        return set(rows)


async def test_one_statement_may_scope_two_types_by_the_same_chain(db):
    # given
    team = await new_team(db)
    manager = scoped(team.manager, TEAM)
    # when: deals the manager may see, of customers the manager may see
    async with db.read() as session:
        rows = await session.scalars(
            select(Opportunity.id).join(Customer, Customer.id == Opportunity.customer_id).where(
                Opportunity.org_id == team.org_id,
                owned_rows(manager, "Customer", Customer), owned_rows(manager, "Opportunity", Opportunity)))
        found = set(rows)
    # then
    assert found == {team.deal}


async def test_a_report_added_after_the_scope_was_built_counts_from_the_next_statement(db):
    # given: the manager's team scope, built and used
    team = await new_team(db)
    manager = scoped(team.manager, TEAM)
    assert await visible_deals(db, manager) == {team.deal}
    # when: a new rep joins the manager's team and opens a deal
    async with db.write() as session:
        newcomer = await create_user(session, team.org_id, email=f"new-{uuid.uuid4().hex[:8]}@scope.test",
                                     name="newcomer", roles=["sales_rep"], manager_id=team.manager.id)
        new = await new_deal(session, newcomer, "Newcomer deal")
    # then: the same clause, and it sees the new deal
    assert owned_rows(manager, "Opportunity", Opportunity) is owned_rows(scoped(team.manager, TEAM), "Opportunity",
                                                                        Opportunity)
    assert await visible_deals(db, manager) == {team.deal, new}


async def test_a_share_made_after_the_scope_was_built_counts_from_the_next_statement(db):
    # given: a peer outside the chain sees none of the rep's deals
    team = await new_team(db)
    peer = scoped(team.peer, OWN)
    assert await visible_deals(db, peer) == set()
    # when
    async with db.write() as session:
        await share_record(session, scoped(team.manager, TEAM), record_type="Opportunity", record_id=team.deal,
                           user_id=team.peer.id, team_id=None)
    # then
    assert await visible_deals(db, peer) == {team.deal}


async def test_scopes_of_two_actors_never_mix(db):
    # given
    team = await new_team(db)
    # when
    rep, peer = await visible_deals(db, scoped(team.rep, OWN)), await visible_deals(db, scoped(team.peer, OWN))
    # then
    assert (rep, peer) == ({team.deal}, set())
