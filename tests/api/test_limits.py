"""Query limits: page sizes, cursors, depth, aliases, tokens, cost, fragment cycles, suggestions, introspection.
Limits come from the session settings (depth 12, aliases 30, tokens 3000, cost 50,000)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from tandem.app import create_app
from tests.conftest import GraphQLClient

ME = "{ me { email } }"
CUSTOMERS_PAGE = """
query Customers($first: Int, $last: Int, $after: String, $before: String, $orderBy: CustomerOrder) {
  customers(first: $first, last: $last, after: $after, before: $before, orderBy: $orderBy) {
    edges { cursor node { id name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
OPPORTUNITIES_PAGE = """
query Opportunities($first: Int, $after: String, $orderBy: OpportunityOrder) {
  opportunities(first: $first, after: $after, orderBy: $orderBy) {
    edges { cursor node { id } }
    pageInfo { endCursor }
  }
}
"""
FIRST_CUSTOMER = "{ customers(first: 1) { edges { node { id } } } }"
CONTACTS_OF_CUSTOMER = """
query Contacts($id: ID!, $first: Int, $last: Int, $after: String) {
  customer(id: $id) { name contacts(first: $first, last: $last, after: $after) { edges { node { id } } } }
}
"""
COST_BOMB = """
{
  customers(first: 100) { edges { node {
    opportunities(first: 100) { edges { node {
      interactions(first: 100) { edges { node { id summary } } }
    } } }
  } } }
}
"""
COST_BOMB_VIA_VARIABLES = """
query Bomb($a: Int, $b: Int, $c: Int) {
  customers(first: $a) { edges { node {
    opportunities(first: $b) { edges { node {
      interactions(last: $c) { edges { node { id } } }
    } } }
  } } }
}
"""
COST_BOMB_IN_FRAGMENTS = """
query { customers(first: 100) { edges { node { ...Deals } } } }
fragment Deals on Customer { opportunities(first: 100) { edges { node { ...Talks } } } }
fragment Talks on Opportunity { interactions(first: 100) { edges { node { id } } } }
"""
NORMAL_QUERY = """
query Dashboard {
  me { email name roles manager { email } team { name } }
  org: myOrg { name defaultCurrency }
  stages: pipeline { key label probability }
  newest: customers(first: 5, orderBy: {field: CREATED_AT, direction: DESC}) {
    edges { node { id name owner { manager { email } } } }
  }
  byName: customers(first: 5) { totalCount edges { node { id label: name tier } } }
  open: opportunities(first: 5, filter: {stage: "proposal"}) {
    edges { node { id title: name amount currency probability owner { email } } }
  }
  won: opportunities(first: 5, filter: {stage: "won"}) { totalCount }
  lost: opportunities(first: 5, filter: {stage: "lost"}) { totalCount }
  recentLeads: leads(first: 3) { edges { node { id name status } } }
}
"""
CIRCULAR_FRAGMENTS = """
query { me { ...A } }
fragment A on User { email manager { ...B } }
fragment B on User { name manager { ...A } }
"""
SELF_SPREADING_FRAGMENT = """
query { me { ...A } }
fragment A on User { email ...A }
"""
CYCLE_BEHIND_A_FRAGMENT = """
query { me { ...Start } }
fragment Start on User { email ...Loop1 }
fragment Loop1 on User { name ...Loop2 }
fragment Loop2 on User { roles ...Loop3 }
fragment Loop3 on User { territory ...Loop1 }
"""


def _manager_chain(depth: int) -> str:
    """`me { manager { ... { email } } }` with exactly ``depth`` levels of selection."""
    return "{ me { " + "manager { " * (depth - 2) + "email" + " }" * (depth - 2) + " } }"


def _inline_fragment_chain(depth: int) -> str:
    return "{ me { " + "... on User { manager { " * (depth - 2) + "email" + " } }" * (depth - 2) + " } }"


def _fragment_chain(depth: int) -> str:
    """The same depth spread over one named fragment per level."""
    levels = depth - 2
    fragments = [f"fragment F{i} on User {{ manager {{ ...F{i + 1} }} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on User {{ email }}")
    return "{ me { ...F0 } }\n" + "\n".join(fragments)


def _deep_fragment(depth: int) -> str:
    """Half the depth in the operation, half hidden in one fragment."""
    outer = (depth - 2) // 2
    inner = depth - 2 - outer
    fragment = "fragment Deep on User { " + "manager { " * inner + "email" + " }" * inner + " }"
    return "{ me { " + "manager { " * outer + "...Deep" + " }" * outer + " } }\n" + fragment


def _aliases(n: int) -> str:
    return "{ " + " ".join(f"a{i}: me {{ email }}" for i in range(n)) + " }"


def _null_at(data: Any, path: list[str]) -> bool:
    """Is the field at ``path`` null in ``data`` (itself, or an ancestor that the null propagated to)?"""
    for key in path:
        if data is None:
            return True
        data = data[key]
    return data is None


def _codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result["errors"]]


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


async def _a_customer_id(gql: Any) -> str:
    result = await gql(FIRST_CUSTOMER)
    return result["data"]["customers"]["edges"][0]["node"]["id"]


# ---- page size --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    {},
    {"first": 0},
    {"first": 101},
    {"first": -1},
    {"last": 0},
    {"last": 101},
    {"first": 1, "last": 1},
    {"first": 1, "before": "x"},
    {"last": 1, "after": "x"},
], ids=["missing", "first-0", "first-101", "first-negative", "last-0", "last-101", "first-and-last",
        "first-with-before", "last-with-after"])
async def test_root_connection_refuses_a_bad_page_size(gql, args):
    # when
    result = await gql(CUSTOMERS_PAGE, args)
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["customers"]
    assert result.get("data") is None


@pytest.mark.parametrize("field", ["customers", "opportunities", "leads"])
async def test_every_root_connection_requires_first_or_last(gql, field):
    # when
    result = await gql(f"{{ {field} {{ totalCount }} }}")
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == [field]


@pytest.mark.parametrize("args", [{}, {"first": 0}, {"first": 101}, {"last": 101}, {"first": 1, "last": 1}],
                         ids=["missing", "first-0", "first-101", "last-101", "first-and-last"])
async def test_nested_connection_refuses_a_bad_page_size(gql, args):
    # given
    customer_id = await _a_customer_id(gql)
    # when
    result = await gql(CONTACTS_OF_CUSTOMER, {"id": customer_id, **args})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["customer", "contacts"]
    assert _null_at(result["data"], ["customer", "contacts"])


@pytest.mark.parametrize("args", [{"first": 1}, {"first": 100}, {"last": 1}, {"last": 100}],
                         ids=["first-1", "first-100", "last-1", "last-100"])
async def test_page_sizes_from_1_to_100_are_accepted(gql, args):
    # when
    result = await gql(CUSTOMERS_PAGE, args)
    # then
    assert "errors" not in result
    assert 1 <= len(result["data"]["customers"]["edges"]) <= args.get("first", args.get("last"))


# ---- cursors ----------------------------------------------------------------------------------------------------


async def test_a_cursor_handed_out_pages_forward(gql):
    # given
    first_page = await gql(CUSTOMERS_PAGE, {"first": 2})
    end_cursor = first_page["data"]["customers"]["pageInfo"]["endCursor"]
    # when
    result = await gql(CUSTOMERS_PAGE, {"first": 2, "after": end_cursor})
    # then
    assert "errors" not in result
    first_ids = [e["node"]["id"] for e in first_page["data"]["customers"]["edges"]]
    next_ids = [e["node"]["id"] for e in result["data"]["customers"]["edges"]]
    assert next_ids and not set(first_ids) & set(next_ids)


def _tamper(kind: str, real: str) -> str:
    decoded = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
    return {
        "garbage": lambda: "garbage!!",
        "truncated": lambda: real[: len(real) // 2],
        "not-base64-json": lambda: base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        "json-object": lambda: base64.urlsafe_b64encode(b'{"id": 1}').decode(),
        "json-null": lambda: base64.urlsafe_b64encode(b"null").decode(),
        "other-sort": lambda: _cursor("CREATED_AT", decoded[1], decoded[2]),
        "row-id-injection": lambda: _cursor(decoded[0], decoded[1], "1 OR 1=1"),
        "extra-part": lambda: _cursor(*decoded, "extra"),
        "missing-part": lambda: _cursor(decoded[0], decoded[1]),
    }[kind]()


@pytest.mark.parametrize("kind", ["garbage", "truncated", "not-base64-json", "json-object", "json-null",
                                  "other-sort", "row-id-injection", "extra-part", "missing-part"])
async def test_tampered_cursor_is_invalid_cursor(gql, kind):
    # given
    page = await gql(CUSTOMERS_PAGE, {"first": 1})
    cursor = _tamper(kind, page["data"]["customers"]["pageInfo"]["endCursor"])
    # when
    result = await gql(CUSTOMERS_PAGE, {"first": 1, "after": cursor})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert error["path"] == ["customers"]


@pytest.mark.parametrize(("order_field", "cursor"), [
    ("CREATED_AT", _cursor("CREATED_AT", "not-a-date", 1)),
    ("CREATED_AT", _cursor("CREATED_AT", 12345, 1)),
    ("EXPECTED_CLOSE_DATE", _cursor("EXPECTED_CLOSE_DATE", "2026-13-45", 1)),
    ("AMOUNT", _cursor("AMOUNT", "abc", 1)),
    ("AMOUNT", _cursor("AMOUNT", [1, 2], 1)),
    ("AMOUNT", _cursor("AMOUNT", "NaN", 1)),
    ("AMOUNT", _cursor("AMOUNT", "Infinity", 1)),
    ("CREATED_AT", _cursor("CREATED_AT", "2026-01-01T00:00:00", 2**70)),
], ids=["bad-datetime", "number-for-datetime", "bad-date", "bad-decimal", "list-for-decimal", "nan-decimal",
        "infinite-decimal", "row-id-beyond-int64"])
async def test_cursor_with_a_sort_value_of_the_wrong_kind_is_invalid_cursor(gql, order_field, cursor):
    # when
    result = await gql(OPPORTUNITIES_PAGE, {"first": 1, "after": cursor,
                                            "orderBy": {"field": order_field, "direction": "ASC"}})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "INVALID_CURSOR"


async def test_cursor_from_another_sort_order_is_invalid_cursor(gql):
    # given
    page = await gql(CUSTOMERS_PAGE, {"first": 1, "orderBy": {"field": "CREATED_AT", "direction": "ASC"}})
    created_cursor = page["data"]["customers"]["pageInfo"]["endCursor"]
    # when
    result = await gql(CUSTOMERS_PAGE, {"first": 1, "after": created_cursor})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "INVALID_CURSOR"


async def test_tampered_cursor_on_a_nested_connection_is_invalid_cursor(gql):
    # given
    customer_id = await _a_customer_id(gql)
    # when
    result = await gql(CONTACTS_OF_CUSTOMER, {"id": customer_id, "first": 1, "after": "tampered"})
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert error["path"] == ["customer", "contacts"]
    assert _null_at(result["data"], ["customer", "contacts"])


# ---- depth ------------------------------------------------------------------------------------------------------


async def test_query_at_the_depth_limit_runs(gql, settings):
    # when
    result = await gql(_manager_chain(settings.max_query_depth))
    # then
    assert "errors" not in result
    assert result["data"] == {"me": {"manager": {"manager": None}}}  # manager@demo.test reports to no one


@pytest.mark.parametrize("build", [_manager_chain, _inline_fragment_chain, _fragment_chain, _deep_fragment],
                         ids=["plain", "inline-fragments", "fragment-per-level", "half-in-a-fragment"])
async def test_query_over_the_depth_limit_is_too_deep(gql, settings, build):
    # when
    result = await gql(build(settings.max_query_depth + 1))
    # then
    assert _codes(result) == ["QUERY_TOO_DEEP"]
    assert result.get("data") is None


@pytest.mark.parametrize("build", [_inline_fragment_chain, _fragment_chain, _deep_fragment],
                         ids=["inline-fragments", "fragment-per-level", "half-in-a-fragment"])
async def test_fragments_at_the_depth_limit_run(gql, settings, build):
    # when
    result = await gql(build(settings.max_query_depth))
    # then
    assert "errors" not in result


# ---- aliases ----------------------------------------------------------------------------------------------------


async def test_aliases_at_the_limit_run(gql, settings):
    # when
    result = await gql(_aliases(settings.max_aliases))
    # then
    assert "errors" not in result
    assert len(result["data"]) == settings.max_aliases


async def test_too_many_aliases_are_refused(gql, settings):
    # when
    result = await gql(_aliases(settings.max_aliases + 1))
    # then
    assert _codes(result) == ["TOO_MANY_ALIASES"]
    assert result.get("data") is None


async def test_aliases_in_a_fragment_count_each_time_it_is_spread(gql):
    # given: 5 aliases, spread at 7 levels = 35 > 30
    query = (
        "{ me { ...Five " + "manager { ...Five " * 6 + "}" * 6 + " } }\n"
        "fragment Five on User { e1: email e2: email e3: email e4: email e5: email }"
    )
    # when
    result = await gql(query)
    # then
    assert _codes(result) == ["TOO_MANY_ALIASES"]


async def test_aliases_in_doubling_fragments_are_counted_in_full(gql):
    # given: each fragment spreads the previous one twice: 4, 8, 16, 32 aliases
    query = """
    { me { ...F4 } }
    fragment F1 on User { a1: email a2: email a3: email a4: email }
    fragment F2 on User { ...F1 manager { ...F1 } }
    fragment F3 on User { ...F2 manager { ...F2 } }
    fragment F4 on User { ...F3 manager { ...F3 } }
    """
    # when
    result = await gql(query)
    # then
    assert _codes(result) == ["TOO_MANY_ALIASES"]


# ---- fragment cycles --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [CIRCULAR_FRAGMENTS, SELF_SPREADING_FRAGMENT, CYCLE_BEHIND_A_FRAGMENT],
                         ids=["a-b-a", "self", "behind-another"])
async def test_circular_fragments_are_an_error_response_not_a_crash(gql, query):
    # when
    response = await gql.raw(query)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["errors"]
    assert body.get("data") is None
    assert "INTERNAL" not in _codes(body)
    assert "Traceback" not in response.text
    assert await gql(ME) == {"data": {"me": {"email": "rep1@demo.test"}}}


# ---- tokens -----------------------------------------------------------------------------------------------------


async def test_fragment_spread_a_thousand_times_under_the_token_limit_is_answered_quickly(gql):
    # given
    query = "{ me { " + "...F " * 1000 + "} }\nfragment F on User { email }"
    started = time.perf_counter()
    # when
    result = await gql(query)
    # then
    assert result == {"data": {"me": {"email": "rep1@demo.test"}}}
    assert time.perf_counter() - started < 5


async def test_fragment_spread_past_the_token_limit_is_too_many_tokens(gql, settings):
    # given: two tokens per spread
    query = "{ me { " + "...F " * settings.max_tokens + "} }\nfragment F on User { email }"
    # when
    result = await gql(query)
    # then
    assert _codes(result) == ["TOO_MANY_TOKENS"]
    assert result.get("data") is None


async def test_document_over_the_token_limit_is_too_many_tokens(gql, settings):
    # given
    query = "{ me { " + "email " * settings.max_tokens + "} }"
    # when
    result = await gql(query)
    # then
    assert _codes(result) == ["TOO_MANY_TOKENS"]


async def test_document_over_the_token_limit_is_refused_before_authentication(gql, settings):
    # when
    result = await gql("{ me { " + "email " * settings.max_tokens + "} }", as_=None)
    # then
    assert _codes(result) == ["TOO_MANY_TOKENS"]


# ---- cost -------------------------------------------------------------------------------------------------------


async def test_nested_connections_of_a_hundred_are_too_complex(gql):
    # when
    result = await gql(COST_BOMB)
    # then
    assert _codes(result) == ["QUERY_TOO_COMPLEX"]
    assert result.get("data") is None


async def test_nested_page_sizes_in_variables_count_as_the_maximum(gql):
    # when: the variables ask for little, but the document could ask for 100 x 100 x 100
    result = await gql(COST_BOMB_VIA_VARIABLES, {"a": 1, "b": 1, "c": 1})
    # then
    assert _codes(result) == ["QUERY_TOO_COMPLEX"]


async def test_nested_connections_hidden_in_fragments_are_too_complex(gql):
    # when
    result = await gql(COST_BOMB_IN_FRAGMENTS)
    # then
    assert _codes(result) == ["QUERY_TOO_COMPLEX"]


async def test_small_nested_connections_are_within_budget(gql):
    # when
    result = await gql("""
    { customers(first: 10) { edges { node { name
        opportunities(first: 10) { edges { node { name interactions(last: 5) { edges { node { summary } } } } } }
    } } } }
    """)
    # then
    assert "errors" not in result
    assert result["data"]["customers"]["edges"]


# ---- normal queries ---------------------------------------------------------------------------------------------


async def test_normal_dashboard_query_with_aliases_and_some_depth_runs(gql):
    # when
    result = await gql(NORMAL_QUERY)
    # then
    assert "errors" not in result
    data = result["data"]
    assert data["me"]["email"] == "rep1@demo.test"
    assert data["org"] == {"name": "Demo", "defaultCurrency": "CNY"}
    assert [s["key"] for s in data["stages"]] == ["initial_contact", "proposal", "negotiation", "won", "lost"]
    assert isinstance(data["won"]["totalCount"], int)
    assert len(data["newest"]["edges"]) <= 5


# ---- suggestions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "variables"), [
    ("{ me { emial } }", None),
    ("{ customr(id: \"x\") { id } }", None),
    ("{ customers(frist: 1) { totalCount } }", None),
    ("{ customers(first: 1, filter: {serch: \"x\"}) { totalCount } }", None),
    ("{ customers(first: 1, filter: {tier: STRATEGC}) { totalCount } }", None),
    ("query { me { ...F } } fragment F on Usr { email }", None),
    ("query ($t: CustomerTeir) { customers(first: 1, filter: {tier: $t}) { totalCount } }", None),
    ("query ($f: CustomerFilter) { customers(first: 1, filter: $f) { totalCount } }", {"f": {"serch": "x"}}),
    ("query ($f: CustomerFilter) { customers(first: 1, filter: $f) { totalCount } }", {"f": {"tier": "STRATEGC"}}),
    ("mutation ($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } } }", {"i": {"nme": "x"}}),
], ids=["field", "root-field", "argument", "input-field", "enum-literal", "fragment-type", "variable-type",
        "variable-input-field", "variable-enum", "mutation-input-field"])
async def test_unknown_names_are_reported_without_suggestions(gql, query, variables):
    # when
    response = await gql.raw(query, variables)
    # then
    assert response.status_code == 200
    result = response.json()
    assert result["errors"]
    assert set(_codes(result)) == {"BAD_USER_INPUT"}
    assert "Did you mean" not in response.text


# ---- introspection ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def introspective_gql(settings, db, users) -> AsyncIterator[GraphQLClient]:
    """A client of an app with introspection turned on (it is off by default outside debug and demo)."""
    application = create_app(settings.model_copy(update={"introspection": True}))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://tandem.test") as c,
    ):
        yield GraphQLClient(c, settings, users)


@pytest.mark.parametrize("type_depth", [7, 9], ids=["graphql-js-16", "graphql-core-3.3"])
async def test_standard_introspection_query_works(introspective_gql, type_depth):
    # when
    result = await introspective_gql(get_introspection_query(descriptions=True, type_depth=type_depth))
    # then
    assert "errors" not in result
    schema = result["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert schema["mutationType"]["name"] == "Mutation"
    assert "Customer" in {t["name"] for t in schema["types"]}
