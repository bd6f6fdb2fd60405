"""What every transport owes a client whatever the document: the request's session outlives every
resolver (a failed root field, a cancelled request), introspection is bounded and needs a token,
a document with several operations must name one, and HTTP and the websocket give the same answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tandem.app import create_app
from tests.factories.realtime import connect
from tests.factories.waiting import eventually

ROOT_FAILS = """
query ($id: ID!) { node(id: $id) { id } customers(last: -1) { totalCount } }
"""
SEVERAL_ROOTS_FAIL = """
query ($id: ID!) {
  node(id: $id) { id ... on Customer { name contacts(first: 5) { totalCount } } }
  a: customers(last: -1) { totalCount }
  opportunities(first: 3) { edges { node { id customer { name } } } }
  b: opportunities(first: 0) { totalCount }
  customer(id: $id) { opportunities(first: 5) { totalCount } }
}
"""
NESTED_FIELD_FAILS = """
query ($id: ID!) {
  node(id: $id) { id }
  customers(first: 5) {
    edges { node { id contacts(last: -1) { totalCount } opportunities(first: 2) { totalCount } } }
  }
}
"""
FAILING_DOCUMENTS = {"root": ROOT_FAILS, "several-roots": SEVERAL_ROOTS_FAIL, "nested": NESTED_FIELD_FAILS}
FIRST_CUSTOMER = "{ customers(first: 1) { edges { node { id } } } }"
ME = "{ me { email } }"
REPEAT = 50


async def _customer_id(gql: Any) -> str:
    result = await gql(FIRST_CUSTOMER)
    return result["data"]["customers"]["edges"][0]["node"]["id"]


async def _pool_settles(app: Any, baseline: int) -> None:
    """The API engine's pool gets back to ``baseline`` checked-out connections (within 5 s)."""
    pool = app.state.db.engine.pool
    await eventually(lambda: pool.checkedout() == baseline, within=5.0,
                     what=lambda: f"{baseline} checked-out connections (now {pool.checkedout()})")


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", ())]


@contextlib.asynccontextmanager
async def _client_of(settings: Any, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings.model_copy(update=overrides))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://tandem.test") as c,
    ):
        c.app = application  # type: ignore[attr-defined]
        yield c


# ---- the request's session outlives every resolver ---------------------------------------------------------------


@pytest.mark.parametrize("document", FAILING_DOCUMENTS.values(), ids=FAILING_DOCUMENTS.keys())
async def test_a_failing_field_never_closes_the_session_under_a_running_sibling(app, gql, document):
    # given
    customer_id = await _customer_id(gql)
    await _pool_settles(app, 0)
    # when
    responses = [await gql.raw(document, {"id": customer_id}) for _ in range(REPEAT)]
    # then
    for response in responses:
        assert response.status_code == 200, response.text
        assert "BAD_USER_INPUT" in _codes(response.json())
        assert "INTERNAL" not in _codes(response.json())
    await _pool_settles(app, 0)
    assert (await gql(ME))["data"]["me"]["email"] == "rep1@demo.test"


async def test_a_request_cancelled_midway_leaves_the_session_closed_and_the_pool_as_it_was(app, gql):
    # given
    customer_id = await _customer_id(gql)
    await _pool_settles(app, 0)
    # when: the client goes away at a different moment each time
    for i in range(REPEAT):
        request = asyncio.create_task(gql.raw(SEVERAL_ROOTS_FAIL, {"id": customer_id}))
        await asyncio.sleep(i * 0.0004)
        request.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await request
    # then
    await _pool_settles(app, 0)
    response = await gql.raw(ROOT_FAILS, {"id": customer_id})
    assert response.status_code == 200


async def test_failing_operations_in_a_batch_leave_the_pool_as_it_was(settings, db, gql):
    async with _client_of(settings, max_batch=5) as client:
        # given
        customer_id = await _customer_id(gql)
        headers = {"authorization": f"Bearer {gql.token('rep1@demo.test')}"}
        batch = [{"query": document, "variables": {"id": customer_id}} for document in FAILING_DOCUMENTS.values()]
        batch.append({"query": ME})
        # when
        responses = [await client.post("/graphql", json=batch, headers=headers) for _ in range(REPEAT)]
        # then
        for response in responses:
            assert response.status_code == 200, response.text
            *failed, me = response.json()
            assert all("BAD_USER_INPUT" in _codes(body) and "INTERNAL" not in _codes(body) for body in failed)
            assert me == {"data": {"me": {"email": "rep1@demo.test"}}}
        await _pool_settles(client.app, 0)  # type: ignore[attr-defined]


# ---- introspection: bounded, behind a token, off by default ------------------------------------------------------

INTROSPECTION_BOMB = "{ __schema { " + " ".join(
    f"a{i}: types {{ fields {{ type {{ name }} args {{ name }} }} }}" for i in range(180)) + " } }"
SCHEMA_TYPES = "{ __schema { queryType { name } types { name } } }"
NESTED_TYPE_LISTS = """
{ __schema { types { fields { type { ofType {
  fields { type { ofType { fields { type { ofType { fields { name } } } } } } }
} } } } } }
"""


@pytest.fixture(scope="module")
async def introspective(settings, db) -> AsyncIterator[httpx.AsyncClient]:
    async with _client_of(settings, introspection=True) as client:
        yield client


def _auth(gql: Any, email: str = "rep1@demo.test") -> dict[str, str]:
    return {"authorization": f"Bearer {gql.token(email)}"}


@pytest.mark.parametrize(("overrides", "enabled"), [
    ({}, False),
    ({"debug": True}, True),
    ({"demo": True}, True),
    ({"introspection": True}, True),
    ({"debug": True, "introspection": False}, False),
], ids=["default", "debug", "demo", "explicitly-on", "explicitly-off-in-debug"])
def test_introspection_is_off_unless_debug_demo_or_turned_on(settings, overrides, enabled):
    assert settings.model_copy(update={"introspection": None, "debug": False, **overrides}).introspection_enabled \
        is enabled


async def test_introspection_is_refused_by_default(gql):
    # when
    result = await gql(SCHEMA_TYPES)
    # then
    assert "data" not in result
    assert set(_codes(result)) == {"BAD_USER_INPUT"}


async def test_typename_alone_needs_no_token(client):
    # when
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("query", [SCHEMA_TYPES, '{ __type(name: "Customer") { name } }',
                                   "query { ...Q } fragment Q on Query { __schema { queryType { name } } }",
                                   "{ __typename ... on Query { __type(name: \"Query\") { name } } }"],
                         ids=["schema", "type", "in-a-fragment", "in-an-inline-fragment"])
async def test_introspection_without_a_token_is_unauthenticated(introspective, query):
    # when
    response = await introspective.post("/graphql", json={"query": query})
    # then
    assert response.status_code == 200
    assert "data" not in response.json()
    assert _codes(response.json()) == ["UNAUTHENTICATED"]


async def test_introspection_with_a_token_works(introspective, gql):
    # when
    response = await introspective.post("/graphql", json={"query": SCHEMA_TYPES}, headers=_auth(gql))
    # then
    assert response.status_code == 200
    assert response.json()["data"]["__schema"]["queryType"] == {"name": "Query"}


@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "token"])
async def test_introspection_under_180_aliases_is_refused_at_once_with_a_small_error(introspective, gql, with_token):
    # given: 7 KB of document that used to answer 6.5 MB and block the event loop for seconds
    headers = _auth(gql) if with_token else {}
    # when
    started = time.perf_counter()
    response = await introspective.post("/graphql", json={"query": INTROSPECTION_BOMB}, headers=headers)
    elapsed = time.perf_counter() - started
    # then
    assert response.status_code == 200
    assert "data" not in response.json()
    assert _codes(response.json()) == (["TOO_MANY_ALIASES"] if with_token else ["UNAUTHENTICATED"])
    assert len(response.content) < 1_000
    assert elapsed < 0.5


async def test_aliases_inside_introspection_count_toward_the_limit(introspective, gql, settings):
    # given
    query = "{ __schema { " + " ".join(f"t{i}: queryType {{ name }}" for i in range(settings.max_aliases + 1)) + " } }"
    # when
    response = await introspective.post("/graphql", json={"query": query}, headers=_auth(gql))
    # then
    assert _codes(response.json()) == ["TOO_MANY_ALIASES"]


async def test_nested_type_lists_in_introspection_are_refused(introspective, gql):
    # when
    response = await introspective.post("/graphql", json={"query": NESTED_TYPE_LISTS}, headers=_auth(gql))
    # then
    assert "data" not in response.json()


# ---- a document with several operations must name one -------------------------------------------------------------

TWO_QUERIES = "query Me { me { email } } query Org { myOrg { name } }"
MUTATION_FIRST = """
mutation Write($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } } }
query Me { me { email } }
"""
SUBSCRIPTION_FIRST = """
subscription Feed { changeFeed { cursor } }
query Me { me { email } }
"""


def _assert_bad_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"errors": [{"message": response.json()["errors"][0]["message"],
                                           "extensions": {"code": "BAD_REQUEST"}}]}


@pytest.mark.parametrize("query", [TWO_QUERIES, MUTATION_FIRST], ids=["two-queries", "mutation-first"])
async def test_several_operations_without_an_operation_name_are_a_bad_request_over_post(client, gql, query):
    # when
    response = await client.post("/graphql", json={"query": query}, headers=_auth(gql))
    # then
    _assert_bad_request(response)


@pytest.mark.parametrize("query", [TWO_QUERIES, MUTATION_FIRST], ids=["two-queries", "mutation-first"])
async def test_several_operations_without_an_operation_name_are_a_bad_request_over_get(client, gql, query):
    # when
    response = await client.get("/graphql", params={"query": query}, headers=_auth(gql))
    # then
    _assert_bad_request(response)


async def test_naming_the_operation_runs_that_one(client, gql):
    # when
    response = await client.post("/graphql", json={"query": TWO_QUERIES, "operationName": "Org"},
                                 headers=_auth(gql))
    # then
    assert response.status_code == 200
    assert set(response.json()["data"]) == {"myOrg"}


async def test_several_operations_without_an_operation_name_are_a_bad_request_in_a_batch(settings, db, gql):
    async with _client_of(settings, max_batch=5) as client:
        # when
        response = await client.post("/graphql", headers=_auth(gql), json=[
            {"query": TWO_QUERIES}, {"query": TWO_QUERIES, "operationName": "Me"}])
        # then
        assert response.status_code == 200
        ambiguous, named = response.json()
        assert _codes(ambiguous) == ["BAD_REQUEST"]
        assert "data" not in ambiguous
        assert named == {"data": {"me": {"email": "rep1@demo.test"}}}


@pytest.mark.parametrize("query", [TWO_QUERIES, MUTATION_FIRST, SUBSCRIPTION_FIRST],
                         ids=["two-queries", "mutation-first", "subscription-first"])
async def test_several_operations_without_an_operation_name_are_an_error_over_the_websocket(app, gql, query):
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        # when
        refused = await _ws_operation(socket, "1", query)
        named = await _ws_operation(socket, "2", query, operation_name="Me")
    # then
    [error] = refused
    assert error["type"] == "error"
    assert [e["extensions"]["code"] for e in error["payload"]] == ["BAD_REQUEST"]
    assert [m["type"] for m in named] == ["next", "complete"]
    assert named[0]["payload"] == {"data": {"me": {"email": "rep1@demo.test"}}}


async def test_an_unknown_operation_name_over_the_websocket_is_an_error_and_the_socket_stays_open(app, gql):
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        # when
        [refused] = await _ws_operation(socket, "1", TWO_QUERIES, operation_name="Nope")
        after = await _ws_operation(socket, "2", ME)
    # then
    assert refused["type"] == "error"
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["BAD_USER_INPUT"]
    assert after[0]["payload"] == {"data": {"me": {"email": "rep1@demo.test"}}}


# ---- the same answer over HTTP and the websocket ------------------------------------------------------------------

DENIED_AMOUNT = "{ opportunities(first: 5) { edges { node { name amount stage } } } }"
DENIED_IN_A_MUTATION = """
mutation ($input: CreateContactInput!) {
  createContact(input: $input) { contact { name customer { name creditLimit } } userErrors { field code } }
}
"""


async def _ws_operation(socket: Any, op_id: str, query: str, variables: dict[str, Any] | None = None, *,
                        operation_name: str | None = None) -> list[dict[str, Any]]:
    """Every message of one query or mutation, up to its ``complete`` or ``error``."""
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name is not None:
        payload["operationName"] = operation_name
    await socket.send({"id": op_id, "type": "subscribe", "payload": payload})
    messages = [await socket.message(op_id)]
    while messages[-1]["type"] not in ("complete", "error"):
        messages.append(await socket.message(op_id))
    return messages


async def _over_websocket(app: Any, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    async with connect(app, token) as socket:
        messages = await _ws_operation(socket, "1", query, variables)
    assert [m["type"] for m in messages] == ["next", "complete"], messages
    return messages[0]["payload"]


async def test_a_query_with_a_denied_field_answers_the_same_over_http_and_the_websocket(app, gql):
    # when
    over_http = await gql(DENIED_AMOUNT, as_="service@demo.test")
    over_ws = await _over_websocket(app, gql.token("service@demo.test"), DENIED_AMOUNT)
    # then
    assert over_ws == over_http
    [error] = over_ws["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN_FIELD", "field": "Opportunity.amount"}
    assert over_ws["data"]["opportunities"]["edges"][0]["node"]["amount"] is None


async def test_a_mutation_with_a_denied_field_answers_the_same_over_http_and_the_websocket(app, gql):
    # given
    customer_id = await _customer_id(gql)
    contact = {"customerId": customer_id, "name": f"Probe {uuid.uuid4().hex[:8]}"}
    # when
    over_http = await gql(DENIED_IN_A_MUTATION, {"input": contact}, as_="service@demo.test")
    over_ws = await _over_websocket(app, gql.token("service@demo.test"), DENIED_IN_A_MUTATION, {"input": contact})
    # then
    assert over_ws == over_http
    [error] = over_ws["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN_FIELD", "field": "Customer.creditLimit"}
    assert over_ws["data"]["createContact"]["contact"]["name"] == contact["name"]


@pytest.mark.parametrize("query", ["{ me { emial } }", "{ me { email }", "{" + "me {" * 1400 + "}" * 1401],
                         ids=["unknown-field", "syntax-error", "nested-too-deep"])
async def test_request_errors_answer_the_same_over_http_and_the_websocket(app, gql, query):
    # when
    over_http = await gql(query)
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        [over_ws] = await _ws_operation(socket, "1", query)
        after = await _ws_operation(socket, "2", ME)
    # then: an error message for that operation; the socket stays open
    assert over_ws["type"] == "error"
    assert over_ws["payload"] == over_http["errors"]
    assert after[0]["payload"] == {"data": {"me": {"email": "rep1@demo.test"}}}


# ---- the websocket's queries keep their session too ---------------------------------------------------------------


async def test_failing_fields_over_the_websocket_leave_the_pool_as_it_was(app, gql):
    # given
    customer_id = await _customer_id(gql)
    await _pool_settles(app, 0)
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        # when
        answers = [await _ws_operation(socket, f"{document}-{i}", FAILING_DOCUMENTS[document], {"id": customer_id})
                   for i in range(REPEAT) for document in FAILING_DOCUMENTS]
        # and operations completed by the client midway
        for i in range(REPEAT):
            await socket.subscribe(f"cancelled-{i}", SEVERAL_ROOTS_FAIL, {"id": customer_id})
            await asyncio.sleep(i * 0.0004)
            await socket.send({"id": f"cancelled-{i}", "type": "complete"})
        # and one dropped with the connection
        await socket.subscribe("dropped", SEVERAL_ROOTS_FAIL, {"id": customer_id})
    # then
    for messages in answers:
        assert [m["type"] for m in messages] == ["next", "complete"]
        codes = [e["extensions"]["code"] for e in messages[0]["payload"]["errors"]]
        assert "BAD_USER_INPUT" in codes
        assert "INTERNAL" not in codes
    await _pool_settles(app, 0)
