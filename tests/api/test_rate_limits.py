"""Query cost and rate limits: every answer's extensions.cost (requested before it ran, actual from what it
returned, the budget left), the user's and org's leaky buckets refusing over-budget operations with 429,
Retry-After and RATE_LIMITED, over HTTP and the websocket; in memory, or in Redis shared by processes.

Each test pays as a user of its own, so that budgets in Redis (shared by every app of the run) do not carry
one test's spending into another. The session's app leaves extensions.cost out (tests/conftest.py): these
tests use apps of their own with the default, extensions.cost on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tandem.ratelimit import RateLimits
from tandem.settings import Settings
from tests.conftest import REDIS_URL
from tests.factories.api.crm import new_opportunity
from tests.factories.realtime import TIMELINE, app_with, connect

ME = "{ me { email } }"
CUSTOMERS = "{ customers(first: 50) { edges { node { id name } } pageInfo { hasNextPage } } }"
CUSTOMERS_BY_VARIABLE = "query ($n: Int) { customers(first: $n) { edges { node { id } } } }"
CREATE_CUSTOMER = """
mutation { createCustomer(input: {name: "Rate Limits Ltd"}) { customer { id name } userErrors { field code } } }"""
UNKNOWN_CUSTOMER = '{ customer(id: "Q3VzdG9tZXI6OTk5OTk5") { name } }'


DEFAULT_BUDGETS = {name: Settings.model_fields[name].default
                   for name in ("rate_user_bucket", "rate_user_restore", "rate_org_bucket", "rate_org_restore")}


def _app(settings: Any, **budgets: Any) -> Any:
    """An app of the test's own whose answers carry extensions.cost, with the default budgets but for these
    (whatever the session's settings say)."""
    return app_with(settings, query_cost_extension=True, **{**DEFAULT_BUDGETS, **budgets})


@pytest.fixture
async def costed(settings: Any) -> AsyncIterator[Any]:
    """An app with the default budgets."""
    async with _app(settings) as app:
        yield app


async def _post(app: Any, gql: Any, query: str, *, as_: str, variables: dict | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tandem.test") as http:
        return await http.post("/graphql", json={"query": query, "variables": variables or {}},
                               headers={"authorization": f"Bearer {gql.token(as_)}"})


def _objects_in(connection: dict[str, Any]) -> int:
    """What a ``customers { edges { node } } pageInfo }`` answer holds: the connection, each edge and node,
    and pageInfo."""
    return 1 + 2 * len(connection["edges"]) + ("pageInfo" in connection)


async def test_a_query_answer_carries_its_cost_on_the_ordinary_and_the_kept_path(costed, gql):
    # given a page of 50 customers asked for three times: run the ordinary way, then by the compiled path,
    # then by the statement it kept
    compiled = costed.state.compiled_reads
    # when
    answers = [(await _post(costed, gql, CUSTOMERS, as_="rep1@demo.test")).json() for _ in range(3)]
    # then each carries the same cost: 1 for the connection + 50 × (edge, node, pageInfo) requested, and
    # what came back as actual
    assert (compiled.answered, compiled.answered_known) == (2, 1)
    for answer in answers:
        cost = answer["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 1 + 50 * 3
        assert cost["actualQueryCost"] == _objects_in(answer["data"]["customers"])
        assert cost["actualQueryCost"] < cost["requestedQueryCost"]
        assert cost["throttleStatus"]["maximumAvailable"] == 10_000
        assert cost["throttleStatus"]["restoreRate"] == 500
        assert 0 < cost["throttleStatus"]["currentlyAvailable"] <= 10_000
        assert cost["orgThrottleStatus"]["maximumAvailable"] == 50_000


async def test_the_requested_cost_reads_the_page_size_from_the_variables(costed, gql):
    # when the page size is a variable
    five = (await _post(costed, gql, CUSTOMERS_BY_VARIABLE, as_="rep1@demo.test", variables={"n": 5})).json()
    unset = (await _post(costed, gql, CUSTOMERS_BY_VARIABLE, as_="rep1@demo.test")).json()
    # then it is priced at that size, or at 100 when unset
    assert five["extensions"]["cost"]["requestedQueryCost"] == 1 + 5 * 2
    assert unset["extensions"]["cost"]["requestedQueryCost"] == 1 + 100 * 2


async def test_a_mutation_costs_a_base_of_ten_besides_its_selection(costed, gql):
    # when
    result = (await _post(costed, gql, CREATE_CUSTOMER, as_="rep1@demo.test")).json()
    # then createCustomer, customer and userErrors are asked for, the payload and customer come back
    assert result["data"]["createCustomer"]["userErrors"] == []
    assert result["extensions"]["cost"]["requestedQueryCost"] == 10 + 3
    assert result["extensions"]["cost"]["actualQueryCost"] == 10 + 2


@pytest.mark.parametrize(("query", "code"), [(UNKNOWN_CUSTOMER, "NOT_FOUND"), ("{ customers(", "BAD_USER_INPUT")])
async def test_an_error_answer_carries_its_cost(costed, gql, query, code):
    # when
    result = (await _post(costed, gql, query, as_="rep1@demo.test")).json()
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == code
    assert result["extensions"]["cost"]["requestedQueryCost"] == 1
    assert result["extensions"]["cost"]["actualQueryCost"] == 1


async def test_what_was_asked_for_beyond_what_came_back_is_given_back_to_the_budget(settings, gql):
    # given a budget of 1000 restored at 1 a second
    async with _app(settings, rate_user_bucket=1000, rate_user_restore=1) as app:
        # when a page of 50 customers holding fewer is asked for twice
        first = (await _post(app, gql, CUSTOMERS, as_="finance@demo.test")).json()
        second = (await _post(app, gql, CUSTOMERS, as_="finance@demo.test")).json()
    # then each took only its actual cost from the budget (151 was taken first, the rest given back)
    actual = first["extensions"]["cost"]["actualQueryCost"]
    assert actual < first["extensions"]["cost"]["requestedQueryCost"] == 151
    assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 1000 - actual
    assert second["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 1000 - 2 * actual


async def test_a_burst_over_the_budget_is_refused_until_the_retry_after_has_passed(settings, gql):
    # given a budget of 5 restored at 1 a second, and a query costing 1
    async with _app(settings, rate_user_bucket=5, rate_user_restore=1) as app:
        # when a burst is sent
        answers = []
        for _ in range(20):
            answers.append(await _post(app, gql, ME, as_="rep2@demo.test"))
            if answers[-1].status_code != 200:
                break
        refused = answers[-1]
        # then the budget's worth runs, then one is refused: 429, Retry-After, RATE_LIMITED, and nothing ran
        assert [a.status_code for a in answers[:5]] == [200] * 5
        assert refused.status_code == 429
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 2
        body = refused.json()
        assert "data" not in body
        [error] = body["errors"]
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": wait}
        assert body["extensions"]["cost"]["requestedQueryCost"] == 1
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0
        # and after waiting as told, it runs again
        await asyncio.sleep(wait)
        again = await _post(app, gql, ME, as_="rep2@demo.test")
        assert again.status_code == 200
        assert again.json()["data"]["me"]["email"] == "rep2@demo.test"


async def test_the_org_budget_limits_its_users_together(settings, gql):
    # given an org budget of 6 restored at 1 every 2 s, and user budgets far larger
    async with _app(settings, rate_user_bucket=1000, rate_org_bucket=6, rate_org_restore=0.5) as app:
        # when two users of the org take turns
        statuses: dict[str, list[int]] = {"admin@acme.test": [], "rep@acme.test": []}
        refused = None
        for n in range(20):
            who = ["admin@acme.test", "rep@acme.test"][n % 2]
            answer = await _post(app, gql, ME, as_=who)
            statuses[who].append(answer.status_code)
            if answer.status_code != 200:
                refused = answer
                break
    # then together they spent the org's 6 before one of them was refused, each well within their own budget
    assert refused is not None and refused.status_code == 429
    assert sum(s.count(200) for s in statuses.values()) >= 6
    assert all(s.count(200) <= 4 for s in statuses.values())
    body = refused.json()
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "org" in body["errors"][0]["message"]
    cost = body["extensions"]["cost"]
    assert cost["orgThrottleStatus"]["currentlyAvailable"] == 0
    assert cost["throttleStatus"]["currentlyAvailable"] > 900


async def test_websocket_operations_and_subscription_starts_are_paid_for(settings, gql):
    # given a budget of 4 restored at 1 every 2 s; a query costs 1, a timeline subscription 2
    opportunity = await new_opportunity(gql, as_="manager@demo.test")
    async with _app(settings, rate_user_bucket=4, rate_user_restore=0.5) as app, \
            connect(app, gql.token("manager@demo.test")) as socket:
        # when a query, then two subscriptions are started over one socket
        await socket.subscribe("q", ME, {})
        answer = await socket.message("q")
        await socket.subscribe("s1", TIMELINE, {"recordId": opportunity["id"]})
        await socket.subscribe("s2", TIMELINE, {"recordId": opportunity["id"]})
        refused = await socket.message("s2")
        # then the query's answer carries its cost
        assert answer["type"] == "next"
        assert answer["payload"]["extensions"]["cost"]["requestedQueryCost"] == 1
        assert answer["payload"]["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 3
        # and the second subscription, over budget, gets an error of its own: RATE_LIMITED with its wait
        assert refused["type"] == "error"
        [error] = refused["payload"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["cost"]["requestedQueryCost"] == 2
        assert not [m for m in socket.held["s1"] if m["type"] == "error"]
        # while the socket stays open: after the wait, an operation on it runs
        await asyncio.sleep(error["extensions"]["retryAfter"])
        await socket.subscribe("q2", ME, {})
        again = await socket.message("q2")
        assert again["type"] == "next"
        assert again["payload"]["data"]["me"]["email"] == "manager@demo.test"


@pytest.mark.skipif(not REDIS_URL, reason="budgets are shared across processes through Redis")
async def test_two_processes_draw_on_one_budget_in_redis(settings, gql):
    # given two apps (processes) sharing Redis, and a budget of 4 restored at 1 every 2 s
    async with _app(settings, rate_user_bucket=4, rate_user_restore=0.5) as one, \
            _app(settings, rate_user_bucket=4, rate_user_restore=0.5) as two:
        # when the user spends 2 in each
        spent = [await _post(app, gql, ME, as_="pm@demo.test") for app in (one, two, one, two)]
        # then the next, in either, is over the budget
        refused = await _post(one, gql, ME, as_="pm@demo.test")
    assert [a.status_code for a in spent] == [200] * 4
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_an_unreachable_redis_lets_requests_through_with_a_warning(settings, caplog):
    # given budgets kept in a Redis nobody listens to
    limits = RateLimits(settings.model_copy(update={**DEFAULT_BUDGETS, "redis_url": "redis://127.0.0.1:1/0",
                                                    "rate_user_bucket": 1, "query_cost_extension": True}))
    try:
        # when an operation is charged twice
        with caplog.at_level(logging.WARNING, logger="tandem.ratelimit"):
            first = await limits.charge(1, 1, ME, None, None)
            second = await limits.charge(1, 1, ME, None, None)
    finally:
        await limits.close()
    # then both may run, unlimited, and the failure is logged once
    assert first.allowed and second.allowed
    assert limits.settle(first, {"me": {"email": "x"}}) == {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1}}
    assert [r.message for r in caplog.records if r.name == "tandem.ratelimit"] == [
        "rate limits: Redis did not answer; requests pass unlimited for now"]


async def test_an_operation_over_the_query_limits_hears_so_rather_than_that_it_cannot_pay(settings, gql):
    # given a budget of 5, of which 1 is spent
    too_complex = ("{ customers(first: 100) { edges { node { contacts(first: 100) { edges { node "
                   "{ id name email phone title } } } } } } }")
    async with _app(settings, rate_user_bucket=5, rate_user_restore=0.1) as app:
        assert (await _post(app, gql, ME, as_="service@demo.test")).status_code == 200
        # when an operation asking for far more than the budget, and more than the query limits allow, is sent
        answer = await _post(app, gql, too_complex, as_="service@demo.test")
    # then it is refused for its size (it would never run), and costs 1
    assert answer.status_code == 200
    body = answer.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1


async def test_an_operation_of_a_batch_over_the_budget_is_refused_in_its_place(settings, gql):
    # given batching on and a budget of 1 restored at 1 every 10 s
    async with _app(settings, max_batch=2, rate_user_bucket=1, rate_user_restore=0.1) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tandem.test") as http:
            # when two operations come in one request
            answer = await http.post("/graphql", json=[{"query": ME}, {"query": ME}],
                                     headers={"authorization": f"Bearer {gql.token('marketing@demo.test')}"})
    # then the first runs and the second is refused
    assert answer.status_code == 200
    first, second = answer.json()
    assert first["data"]["me"]["email"] == "marketing@demo.test"
    assert "data" not in second
    assert second["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_the_access_log_line_carries_the_cost(costed, gql, caplog):
    # given
    caplog.set_level(logging.INFO, logger="tandem.access")
    # when
    answer = (await _post(costed, gql, CUSTOMERS, as_="rep1@demo.test")).json()
    # then the request's line says what it asked for and what it cost
    [line] = [r.fields for r in caplog.records if r.name == "tandem.access" and r.fields.get("path") == "/graphql"]
    assert line["cost"] == {"requested": 151, "actual": answer["extensions"]["cost"]["actualQueryCost"]}
