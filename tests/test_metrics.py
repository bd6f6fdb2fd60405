"""Metrics and traces, as an operator sees them: ``GET /metrics`` after a few queries and a subscription shows
the families with the right counts; it is shown only to whom it should be; the access log names the
operation, the user, the org and the error codes; with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, a collector
receives the request's span and its SQL."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from tandem.tracing import Tracing
from tests.factories.realtime import CHANGE_FEED, app_with, connect, subscribe_live
from tests.factories.servers import free_port
from tests.factories.waiting import eventually

OK = "query MetricsOk { me { email } }"
BROKEN = "query MetricsBroken { me { noSuchField } }"
CREATE = """
mutation MetricsCreate($name: String!) {
  createCustomer(input: {name: $name}) { customer { id } userErrors { code } }
}"""
TOKEN = "a-metrics-token-of-this-deployment"
FAMILIES = {
    "tandem_graphql_requests", "tandem_graphql_request_duration_seconds", "tandem_graphql_errors",
    "tandem_websockets_open", "tandem_subscriptions_active", "tandem_subscription_channels",
    "tandem_subscription_groups", "tandem_subscription_replays", "tandem_subscription_replayed_events",
    "tandem_outbox_backlog", "tandem_outbox_oldest_unpublished_seconds", "tandem_relay_lag_seconds",
    "tandem_outbox_events_published", "tandem_db_pool_checked_out", "tandem_db_pool_size", "tandem_scheduler_runs",
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    """A sample's value in an exposition (0 when absent: a counter never incremented)."""
    return _samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_operation_and_outcome_with_their_error_codes(client, gql):
    # given the metrics as they are
    before = await scrape(client)
    # when a client runs a query three times and a broken one twice
    for _ in range(3):
        assert "errors" not in await gql(OK)
    for _ in range(2):
        [error] = (await gql(BROKEN))["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    after = await scrape(client)

    # then each operation is counted exactly, with its outcome, its latency and its error code
    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tandem_graphql_requests_total", operation="MetricsOk", outcome="ok") == 3
    assert delta("tandem_graphql_requests_total", operation="MetricsOk", outcome="error") == 0
    assert delta("tandem_graphql_requests_total", operation="MetricsBroken", outcome="error") == 2
    assert delta("tandem_graphql_request_duration_seconds_count", operation="MetricsOk") == 3
    assert delta("tandem_graphql_request_duration_seconds_sum", operation="MetricsOk") > 0
    assert delta("tandem_graphql_errors_total", code="BAD_USER_INPUT") == 2
    # and the process's own families are there
    assert value(after, "process_cpu_seconds_total") > 0
    assert value(after, "tandem_db_pool_size", pool="api") >= 1


async def test_websockets_subscriptions_and_the_relay_show_while_a_client_subscribes(app, client, gql):
    # given the metrics as they are
    before = await scrape(client)
    # when a client opens a websocket and subscribes to the change feed
    async with connect(app, gql.token("admin@demo.test")) as socket:
        await subscribe_live(app, socket, "feed", CHANGE_FEED, {"types": ["Customer"]})
        # and a customer is created, which the subscriber receives
        created = await gql(CREATE, {"name": "指标客户"}, as_="admin@demo.test")
        customer_id = created["data"]["createCustomer"]["customer"]["id"]

        async def delivered() -> bool:
            message = await socket.message("feed")
            return message["payload"]["data"]["changeFeed"]["recordId"] == customer_id

        await eventually(delivered, what="the new customer's event")
        during = await scrape(client)
    # then while connected: one more websocket and an active subscription in a group, one catch-up ran
    assert value(during, "tandem_websockets_open") == value(before, "tandem_websockets_open") + 1
    assert value(during, "tandem_subscriptions_active") >= 1
    assert value(during, "tandem_subscription_groups") >= 1
    assert value(during, "tandem_subscription_channels") >= 1
    assert value(during, "tandem_subscription_replays_total") >= value(before, "tandem_subscription_replays_total") + 1
    # and the relay published the event (counted, its lag observed), leaving no backlog
    published = value(during, "tandem_outbox_events_published_total") - value(
        before, "tandem_outbox_events_published_total")
    assert published >= 1
    lags = value(during, "tandem_relay_lag_seconds_count") - value(before, "tandem_relay_lag_seconds_count")
    assert lags == published
    settled = await eventually(lambda: _settled(client), what="an empty outbox backlog")
    assert value(settled, "tandem_outbox_oldest_unpublished_seconds") == 0
    # and once the client has gone, its websocket and subscription are gone too
    after = await eventually(lambda: _closed(client, before), what="the websocket closed in the metrics")
    assert value(after, "tandem_subscriptions_active") == value(before, "tandem_subscriptions_active")
    # and every family an operator reads is there
    families = {family.name for family in text_string_to_metric_families(after)}
    assert FAMILIES <= families, FAMILIES - families


async def _settled(client: httpx.AsyncClient) -> str | None:
    text = await scrape(client)
    return text if ("tandem_outbox_backlog", ()) in _samples(text) and value(text, "tandem_outbox_backlog") == 0 \
        else None


async def _closed(client: httpx.AsyncClient, before: str) -> str | None:
    text = await scrape(client)
    return text if value(text, "tandem_websockets_open") == value(before, "tandem_websockets_open") else None


async def test_operation_labels_are_bounded(settings, gql, users):
    # given a process that labels at most two operation names
    async with app_with(settings, metrics_max_operations=2) as own:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=own), base_url="http://tandem.test") as c:
            headers = {"authorization": f"Bearer {gql.token('rep1@demo.test')}"}
            # when clients run three named operations, one unnamed, and a new name without a token
            for name in ("First", "Second", "Third"):
                await c.post("/graphql", json={"query": f"query {name} {{ me {{ email }} }}"}, headers=headers)
            await c.post("/graphql", json={"query": "{ me { email } }"}, headers=headers)
            await c.post("/graphql", json={"query": "query Stranger { me { email } }"})
            await c.post("/graphql", json={"query": "query First { me { email } }"})
            text = await scrape(c)
    # then the first two names are labels, the third is `other`, the unnamed one `anonymous`, and a name
    # only an unauthenticated client sent is `other` (a known one keeps its label)
    assert value(text, "tandem_graphql_requests_total", operation="First", outcome="ok") == 1
    assert value(text, "tandem_graphql_requests_total", operation="First", outcome="error") == 1
    assert value(text, "tandem_graphql_requests_total", operation="Second", outcome="ok") == 1
    assert value(text, "tandem_graphql_requests_total", operation="other", outcome="ok") == 1
    assert value(text, "tandem_graphql_requests_total", operation="other", outcome="error") == 1
    assert value(text, "tandem_graphql_requests_total", operation="anonymous", outcome="ok") == 1
    assert value(text, "tandem_graphql_errors_total", code="UNAUTHENTICATED") == 2
    assert "Third" not in text and "Stranger" not in text


async def test_the_access_log_names_the_operation_the_user_the_org_and_the_error_codes(gql, users, caplog):
    # given the access log captured
    caplog.set_level(logging.INFO, logger="tandem.access")
    rep = users["rep1@demo.test"]
    # when the rep runs a broken query
    await gql(BROKEN)
    # then its line says which operation, who, in which org, and what went wrong
    [line] = [r.fields for r in caplog.records if r.name == "tandem.access" and r.fields.get("path") == "/graphql"]
    assert line["operation"] == "MetricsBroken"
    assert int(line["user_id"]) == rep.id and int(line["org_id"]) == rep.org_id
    assert line["error_codes"] == ["BAD_USER_INPUT"]
    assert line["status"] == 200


@contextlib.asynccontextmanager
async def _client(app: Any, client_host: str = "127.0.0.1") -> Any:
    transport = httpx.ASGITransport(app=app, client=(client_host, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tandem.test") as c:
        yield c


async def test_without_a_token_only_local_clients_that_came_through_no_proxy_see_metrics(app):
    # when a client elsewhere asks, or a local one through a proxy
    async with _client(app, "203.0.113.7") as remote, _client(app) as local:
        far = await remote.get("/metrics")
        proxied = await local.get("/metrics", headers={"x-forwarded-for": "203.0.113.7"})
        near = await local.get("/metrics")
    # then only the local one gets them; the others get the 404 of an unknown path
    assert (far.status_code, far.text) == (404, "Not Found")
    assert (proxied.status_code, proxied.text) == (404, "Not Found")
    assert near.status_code == 200 and "tandem_websockets_open" in near.text


async def test_with_a_token_metrics_need_it_from_anywhere(settings):
    async with app_with(settings, metrics_token=TOKEN) as own, _client(own) as local, \
            _client(own, "203.0.113.7") as remote:
        # when clients ask without the token, with another, and with it
        missing = await local.get("/metrics")
        wrong = await remote.get("/metrics", headers={"authorization": "Bearer not-the-token"})
        right = await remote.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    # then only the token opens them
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert wrong.status_code == 401
    assert right.status_code == 200 and "tandem_graphql_requests" in right.text


async def test_a_metrics_port_serves_them_apart_from_the_api(settings, gql):
    port = free_port()
    # given an app whose metrics have a port of their own, with a token
    async with app_with(settings, metrics_port=port, metrics_token=TOKEN) as own, _client(own) as api:
        # when a query runs on the API and a scraper reads the metrics port
        rep = {"authorization": f"Bearer {gql.token('rep1@demo.test')}"}
        await api.post("/graphql", json={"query": OK}, headers=rep)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{own.state.metrics_server.port}") as scraper:
            scraped = await scraper.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
            refused = await scraper.get("/metrics")
            elsewhere = await scraper.get("/graphql", headers={"authorization": f"Bearer {TOKEN}"})
        on_api = await api.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    # then the port has them (the query counted, the backlog read), needs the token, and serves nothing else
    assert own.state.metrics_server.port == port
    assert scraped.status_code == 200
    assert value(scraped.text, "tandem_graphql_requests_total", operation="MetricsOk", outcome="ok") == 1
    assert ("tandem_outbox_backlog", ()) in _samples(scraped.text)
    assert refused.status_code == 401 and elsewhere.status_code == 404
    # and the API's port does not show them
    assert on_api.status_code == 404


async def test_a_second_worker_takes_the_next_free_metrics_port(settings):
    # given the metrics port taken (by the first worker)
    with socket.socket() as first:
        first.bind(("127.0.0.1", 0))
        first.listen()
        taken = first.getsockname()[1]
        # when another worker starts with the same setting
        async with app_with(settings, metrics_port=taken) as own:
            port = own.state.metrics_server.port
            async with httpx.AsyncClient() as scraper:
                scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
    # then it serves its metrics on a port after it
    assert taken < port < taken + 64
    assert scraped.status_code == 200 and "tandem_websockets_open" in scraped.text


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace collector: keeps every export request's spans."""

    spans: list[Any] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                type(self).spans.extend(scope.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield _Collector.spans
    finally:
        server.shutdown()
        server.server_close()


def _attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in span.attributes:
        kind = attribute.value.WhichOneof("value")
        raw = getattr(attribute.value, kind) if kind else None
        out[attribute.key] = [v.string_value for v in raw.values] if kind == "array_value" else raw
    return out


async def test_with_an_otlp_endpoint_the_request_and_its_sql_are_traced(settings, gql, users, collector):
    # given an app started with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a collector
    async with app_with(settings) as own, _client(own) as api:
        # when the admin creates a customer
        response = await api.post("/graphql", json={"query": CREATE, "variables": {"name": "追踪客户"}},
                                  headers={"authorization": f"Bearer {gql.token('admin@demo.test')}"})
        assert response.status_code == 200 and response.json()["data"]["createCustomer"]["userErrors"] == []
        # and the spans are flushed
        assert own.state.tracing.provider.force_flush(10_000)
    # then the collector has the request's server span, named by its operation and user
    admin = users["admin@demo.test"]
    server_kind = 2  # SPAN_KIND_SERVER
    [request] = [s for s in collector if s.kind == server_kind
                 and _attributes(s).get("graphql.operation.name") == "MetricsCreate"]
    attributes = _attributes(request)
    assert attributes["enduser.id"] == str(admin.id) and attributes["tandem.org_id"] == str(admin.org_id)
    # and spans of the SQL it ran, in the same trace
    client_kind = 3  # SPAN_KIND_CLIENT: SQLAlchemy's statements
    sql = [_attributes(s) for s in collector if s.trace_id == request.trace_id and s.kind == client_kind]
    statements = " ".join(str(a.get("db.statement") or a.get("db.query.text")) for a in sql)
    assert "INSERT INTO customer" in statements


def test_without_the_otel_extra_an_endpoint_is_a_warning_and_no_traces(monkeypatch, caplog):
    # given the endpoint set but the SDK not importable
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    caplog.set_level(logging.WARNING, logger="tandem.tracing")
    # when the app would set tracing up
    tracing = Tracing.from_environment()
    # then it runs without, having said so once
    assert tracing is None
    [warning] = [r for r in caplog.records if r.name == "tandem.tracing"]
    assert "otel extra is not installed" in warning.getMessage()


def test_without_an_otlp_endpoint_nothing_is_traced(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert Tracing.from_environment() is None
