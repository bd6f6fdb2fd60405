"""archiveRecord / restoreRecord over HTTP, for every archivable record type: an archived record leaves its
lists and search but is still found by id with `archivedAt` set, keeps its timeline, and comes back on
restore; the lists' `archived` filter finds it meanwhile. Who may archive is who may update it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tandem.domain.registry import ARCHIVABLE_TYPES
from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.crm import MOVE_STAGE, new_customer, new_opportunity
from tests.factories.api.quote_to_cash import new_contract, new_product, new_quote
from tests.factories.api.users import ACME_ADMIN, FINANCE, PM, REP1, REP2, user_id
from tests.factories.names import unique
from tests.factories.realtime import feed_end, positioned

ARCHIVE = """
mutation ($id: ID!) { archiveRecord(input: {id: $id}) { record { id } userErrors { field code } } }"""
RESTORE = """
mutation ($id: ID!) { restoreRecord(input: {id: $id}) { record { id } userErrors { field code } } }"""
NODE = "query ($id: ID!) { node(id: $id) { id " + " ".join(
    f"... on {t} {{ archivedAt }}" for t in sorted(ARCHIVABLE_TYPES)) + " } }"
TIMELINE = "query ($r: ID!) { timeline(recordId: $r, first: 50) { edges { node { kind summary } } } }"
FEED = """
query ($after: String) { changeEvents(after: $after, first: 100) { events { topic recordId payload } } }"""
CREATE_CONTACT = """
mutation ($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { code } } }"""
CREATE_LEAD = "mutation ($input: CreateLeadInput!) { createLead(input: $input) { lead { id } userErrors { code } } }"

EDGES = "{ edges { node { id } } }"
LISTS = {
    "Customer": f"query ($s: String, $a: Boolean) {{ list: customers(first: 50, filter: {{search: $s, archived: $a}}) "
                f"{EDGES} }}",
    "Contact": f"query ($c: ID!) {{ customer(id: $c) {{ list: contacts(first: 50) {EDGES} }} }}",
    "Lead": f"query ($a: Boolean) {{ list: leads(first: 20, archived: $a) {EDGES} }}",
    "Opportunity": f"query ($c: ID, $a: Boolean) {{ list: opportunities(first: 50, filter: {{customerId: $c, "
                   f"archived: $a}}) {EDGES} }}",
    "Quote": f"query ($o: ID, $a: Boolean) {{ list: quotes(first: 50, filter: {{opportunityId: $o, archived: $a}}) "
             f"{EDGES} }}",
    "Contract": f"query ($c: ID, $a: Boolean) {{ list: contracts(first: 50, filter: {{customerId: $c, archived: $a}}) "
                f"{EDGES} }}",
    "Project": f"query ($c: ID, $a: Boolean) {{ list: projects(first: 50, filter: {{customerId: $c, archived: $a}}) "
               f"{EDGES} }}",
    "Product": f"query ($s: String, $a: Boolean) {{ list: products(first: 50, search: $s, archived: $a) {EDGES} }}",
}
PROJECT_OF = "query ($id: ID!) { opportunity(id: $id) { project { id } } }"


@dataclass
class Made:
    id: str
    list_vars: dict[str, Any]
    """What the type's list query is filtered by to find it (its name, its customer, ...)."""


@dataclass
class Case:
    type_name: str
    make: Callable[[Any], Awaitable[Made]]
    as_: str = REP1
    """Who may update (and so archive) it."""


async def _customer(gql: Any) -> Made:
    customer = await new_customer(gql, name=unique("归档客户"))
    return Made(customer["id"], {"s": customer["name"]})


async def _contact(gql: Any) -> Made:
    customer = await new_customer(gql)
    contact = ok(await gql(CREATE_CONTACT, {"input": {"customerId": customer["id"], "name": unique("联系人")}}),
                 "createContact")["contact"]
    return Made(contact["id"], {"c": customer["id"]})


async def _lead(gql: Any) -> Made:
    lead = ok(await gql(CREATE_LEAD, {"input": {"name": unique("线索")}}), "createLead")["lead"]
    return Made(lead["id"], {})


async def _opportunity(gql: Any) -> Made:
    opportunity = await new_opportunity(gql)
    return Made(opportunity["id"], {"c": opportunity["customerId"]})


async def _quote(gql: Any) -> Made:
    quote = await new_quote(gql)
    return Made(quote["id"], {"o": quote["opportunityId"]})


async def _contract(gql: Any) -> Made:
    contract = await new_contract(gql)
    return Made(contract["id"], {"c": contract["customerId"]})


async def _project(gql: Any) -> Made:
    opportunity = await new_opportunity(gql, projectManagerId=user_id(gql, PM))
    for stage in ("proposal", "negotiation", "won"):
        moved = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                                 "stage": stage}})
        opportunity["version"] = ok(moved, "moveOpportunityStage")["opportunity"]["version"]
    project = (await gql(PROJECT_OF, {"id": opportunity["id"]}))["data"]["opportunity"]["project"]
    return Made(project["id"], {"c": opportunity["customerId"]})


async def _product(gql: Any) -> Made:
    product = await new_product(gql, name=unique("归档产品"))
    return Made(product["id"], {"s": product["code"]})


CASES = [
    Case("Customer", _customer), Case("Contact", _contact), Case("Lead", _lead), Case("Opportunity", _opportunity),
    Case("Quote", _quote), Case("Contract", _contract), Case("Project", _project, as_=PM),
    Case("Product", _product, as_=FINANCE),
]


async def listed(gql: Any, case: Case, made: Made, *, archived: bool | None = False) -> bool:
    variables = dict(made.list_vars)
    if case.type_name != "Contact":
        variables["a"] = archived
    answer = await gql(LISTS[case.type_name], variables, as_=case.as_)
    assert "errors" not in answer, answer
    data = answer["data"]
    found = (data["customer"] if case.type_name == "Contact" else data)["list"]
    return made.id in [e["node"]["id"] for e in found["edges"]]


async def archived_at(gql: Any, record_id: str, *, as_: str) -> str | None:
    answer = await gql(NODE, {"id": record_id}, as_=as_)
    assert "errors" not in answer, answer
    return answer["data"]["node"]["archivedAt"]


def test_every_archivable_type_has_a_case():
    assert {c.type_name for c in CASES} == ARCHIVABLE_TYPES


@pytest.mark.parametrize("case", CASES, ids=[c.type_name for c in CASES])
async def test_an_archived_record_leaves_its_list_and_comes_back_on_restore(gql, app, case):
    # given a record in its list
    made = await case.make(gql)
    assert await listed(gql, case, made)
    # when whoever may update it archives it
    ok(await gql(ARCHIVE, {"id": made.id}, as_=case.as_), "archiveRecord")
    # then it is gone from the list, still found by id with archivedAt set, and in the list of archived ones
    assert not await listed(gql, case, made)
    assert await archived_at(gql, made.id, as_=case.as_) is not None
    if case.type_name != "Contact":
        assert await listed(gql, case, made, archived=True)
        assert await listed(gql, case, made, archived=None)
    # when it is restored
    restored = ok(await gql(RESTORE, {"id": made.id}, as_=case.as_), "restoreRecord")
    # then it is back, as active
    assert restored["record"]["id"] == made.id
    assert await listed(gql, case, made)
    assert await archived_at(gql, made.id, as_=case.as_) is None
    if case.type_name != "Contact":
        assert not await listed(gql, case, made, archived=True)
    # and its timeline kept everything, the archiving and the restoring last
    await positioned(app)
    answer = await gql(TIMELINE, {"r": made.id}, as_=case.as_)
    kinds = [e["node"]["kind"] for e in answer["data"]["timeline"]["edges"]]
    assert kinds[-2:] == ["archived", "restored"]
    if case.type_name != "Contact":  # a contact's creation is on its customer's timeline
        assert len(kinds) > 2


async def test_an_archived_customer_leaves_search_in_chinese_too(gql):
    # given two customers whose names share a Chinese word
    word = unique("蓝海")
    kept = await new_customer(gql, name=f"{word} 科技")
    gone = await new_customer(gql, name=f"{word} 贸易")
    # when one is archived
    ok(await gql(ARCHIVE, {"id": gone["id"]}), "archiveRecord")
    # then searching finds the other only
    answer = await gql(LISTS["Customer"], {"s": word})
    assert [e["node"]["id"] for e in answer["data"]["list"]["edges"]] == [kept["id"]]


async def test_archiving_twice_or_restoring_an_active_record_is_a_user_error(gql):
    # given an active customer
    customer = await new_customer(gql)
    # when it is restored
    assert user_errors(await gql(RESTORE, {"id": customer["id"]}), "restoreRecord") == [(["id"], "NOT_ARCHIVED")]
    # when it is archived twice
    ok(await gql(ARCHIVE, {"id": customer["id"]}), "archiveRecord")
    at = await archived_at(gql, customer["id"], as_=REP1)
    again = await gql(ARCHIVE, {"id": customer["id"]})
    # then the second is refused and the first archiving stands
    assert user_errors(again, "archiveRecord") == [(["id"], "ALREADY_ARCHIVED")]
    assert await archived_at(gql, customer["id"], as_=REP1) == at


async def test_a_record_type_that_is_not_archivable_is_a_user_error(gql):
    # when someone archives a user
    result = await gql(ARCHIVE, {"id": user_id(gql, REP2)})
    # then users are not archived that way
    assert user_errors(result, "archiveRecord") == [(["id"], "NOT_ARCHIVABLE")]


@pytest.mark.parametrize("record_id", ["bm9wZQ", "Q3VzdG9tZXI6OTk5OTk5OTk5"], ids=["garbage", "no-such-customer"])
async def test_an_unknown_id_is_not_found(gql, record_id):
    assert error_code(await gql(ARCHIVE, {"id": record_id})) == "NOT_FOUND"


async def test_another_orgs_record_is_not_found_and_stays_listed(gql):
    # given a customer of another org
    theirs = await new_customer(gql, as_=ACME_ADMIN)
    # when a demo user archives it
    result = await gql(ARCHIVE, {"id": theirs["id"]})
    # then it is not found, and the other org still lists it
    assert error_code(result) == "NOT_FOUND"
    answer = await gql(LISTS["Customer"], {"s": theirs["name"]}, as_=ACME_ADMIN)
    assert [e["node"]["id"] for e in answer["data"]["list"]["edges"]] == [theirs["id"]]


async def test_a_rep_cannot_archive_another_reps_customer(gql):
    # given a customer of rep1's (reps see their own customers)
    customer = await new_customer(gql)
    # when rep2 archives it
    result = await gql(ARCHIVE, {"id": customer["id"]}, as_=REP2)
    # then it is not found for them, and still listed
    assert error_code(result) == "NOT_FOUND"
    assert await listed(gql, CASES[0], Made(customer["id"], {"s": customer["name"]}))


@pytest.mark.parametrize(("who", "make"), [(REP1, _product), (FINANCE, _customer)],
                         ids=["rep-product", "finance-customer"])
async def test_whoever_may_not_update_a_record_may_not_archive_it(gql, who, make):
    # given a product (a rep may not edit products) or a customer (finance writes only its credit limit)
    made = await make(gql)
    # when they archive it
    result = await gql(ARCHIVE, {"id": made.id}, as_=who)
    # then FORBIDDEN, and it is not archived
    assert (result["data"], error_code(result)) == (None, "FORBIDDEN")
    assert await archived_at(gql, made.id, as_=FINANCE) is None


async def test_archiving_and_restoring_are_in_the_change_feed(gql, app):
    # given the end of the change feed, and a customer
    customer = await new_customer(gql)
    start = await feed_end(gql, app, as_=REP1)
    # when it is archived and restored
    ok(await gql(ARCHIVE, {"id": customer["id"]}), "archiveRecord")
    ok(await gql(RESTORE, {"id": customer["id"]}), "restoreRecord")
    await positioned(app)
    # then the feed carries both, the archiving with its time
    events = (await gql(FEED, {"after": start}))["data"]["changeEvents"]["events"]
    mine = [e for e in events if e["recordId"] == customer["id"]]
    assert [e["topic"] for e in mine] == ["customer.archived", "customer.restored"]
    assert mine[0]["payload"]["archivedAt"] is not None and mine[1]["payload"]["archivedAt"] is None
