"""The HTTP edge of /graphql: every client mistake is a 4xx with a JSON error code, never a 500 or a
traceback; health checks, request ids, CORS and bearer tokens."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tandem.app import create_app
from tandem.auth import mint_token

ME = "{ me { email } }"
CREATE_CUSTOMER = """
mutation CreateCustomer($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name } userErrors { field code } }
}
"""
CUSTOMER_COUNT = """
query CustomerCount($search: String!) { customers(first: 10, filter: {search: $search}) { totalCount } }
"""
QUERY_AND_MUTATION = """
query Read { me { email } }
mutation Write($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } } }
"""
ALLOWED_ORIGIN = "https://app.example.com"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def _auth(gql: Any, email: str = "rep1@demo.test") -> dict[str, str]:
    return {"authorization": f"Bearer {gql.token(email)}"}


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    """A client mistake: the given status, one JSON error with the given code, nothing leaked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code
    assert "Traceback" not in response.text


async def _post_raw(client: httpx.AsyncClient, gql: Any, body: bytes, **headers: str) -> httpx.Response:
    return await client.post("/graphql", content=body,
                             headers={"content-type": "application/json", **_auth(gql), **headers})


async def _customer_count(gql: Any, name: str) -> int:
    result = await gql(CUSTOMER_COUNT, {"search": name})
    return result["data"]["customers"]["totalCount"]


# ---- malformed bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b'{"query": ',
    b"{query: '{ me { email } }'}",
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"",
], ids=["truncated", "single-quoted", "plain-text", "invalid-utf8", "empty"])
async def test_malformed_json_body_is_bad_request(client, gql, body):
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert_refused(response, 400, "BAD_REQUEST")


async def test_deeply_nested_json_body_is_bad_request_not_a_crash(client, gql):
    # given: 100 KB of "[" nests deeper than the JSON decoder's recursion limit
    body = b'{"query": "{ me { email } }", "variables": {"x": ' + b"[" * 100_000 + b"}"
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert_refused(response, 400, "BAD_REQUEST")


async def test_json_array_body_is_refused_while_batching_is_off(client, gql):
    # given
    body = json.dumps([{"query": ME}, {"query": ME}]).encode()
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert_refused(response, 400, "BATCHING_DISABLED")


@pytest.mark.parametrize("payload", [
    {},
    {"variables": {}},
    {"query": None},
    {"query": 42},
    {"query": ["{ me { email } }"]},
    {"query": {"me": "email"}},
    {"query": ""},
    {"query": "   "},
], ids=["empty-object", "no-query", "null", "number", "list", "object", "empty", "blank"])
async def test_body_without_a_query_string_is_bad_request(client, gql, payload):
    # when
    response = await _post_raw(client, gql, json.dumps(payload).encode())
    # then
    assert_refused(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("body", [b"null", b"42", b'"{ me { email } }"', b"true"],
                         ids=["null", "number", "string", "boolean"])
async def test_json_body_that_is_not_an_object_is_bad_request(client, gql, body):
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert_refused(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("variables", [[1, 2], "a string", 7, True],
                         ids=["list", "string", "number", "boolean"])
async def test_variables_that_are_not_an_object_are_bad_request(client, gql, variables):
    # when
    response = await _post_raw(client, gql, json.dumps({"query": ME, "variables": variables}).encode())
    # then
    assert_refused(response, 400, "BAD_REQUEST")


async def test_null_variables_are_accepted(client, gql):
    # when
    response = await _post_raw(client, gql, json.dumps({"query": ME, "variables": None}).encode())
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "rep1@demo.test"}}}


async def test_operation_name_that_is_not_a_string_is_bad_request(client, gql):
    # when
    response = await _post_raw(client, gql, json.dumps({"query": ME, "operationName": 5}).encode())
    # then
    assert_refused(response, 400, "BAD_REQUEST")


async def test_operation_name_that_names_no_operation_is_bad_user_input(client, gql):
    # given
    body = json.dumps({"query": QUERY_AND_MUTATION, "operationName": "Missing"}).encode()
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert_refused(response, 400, "BAD_USER_INPUT")


@pytest.mark.parametrize("content_type", [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
])
async def test_wrong_content_type_is_unsupported_media_type(client, gql, content_type):
    # when
    response = await _post_raw(client, gql, json.dumps({"query": ME}).encode(), **{"content-type": content_type})
    # then
    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_charset_is_accepted(client, gql):
    # when
    response = await _post_raw(client, gql, json.dumps({"query": ME}).encode(),
                               **{"content-type": "application/json; charset=utf-8"})
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "rep1@demo.test"}}}


# ---- body size --------------------------------------------------------------------------------------------------


def _padded_body(size: int) -> bytes:
    """A valid request for ``me`` padded with JSON whitespace to exactly ``size`` bytes."""
    head = json.dumps({"query": ME}).encode()[:-1]
    return head + b" " * (size - len(head) - 1) + b"}"


async def test_body_at_the_limit_is_accepted(client, gql, settings):
    # given
    body = _padded_body(settings.max_body_bytes)
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "rep1@demo.test"}}}


async def test_body_over_the_limit_with_content_length_is_payload_too_large(client, gql, settings):
    # given
    body = _padded_body(settings.max_body_bytes + 1)
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert response.request.headers["content-length"] == str(settings.max_body_bytes + 1)
    assert_refused(response, 413, "PAYLOAD_TOO_LARGE")


async def test_body_over_the_limit_streamed_without_content_length_is_payload_too_large(client, gql, settings):
    # given
    body = _padded_body(settings.max_body_bytes + 1)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64_000):
            yield body[start:start + 64_000]

    # when
    response = await client.post("/graphql", content=chunks(),
                                 headers={"content-type": "application/json", **_auth(gql)})
    # then
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_refused(response, 413, "PAYLOAD_TOO_LARGE")


async def test_streamed_body_under_the_limit_is_accepted(client, gql):
    # given
    body = json.dumps({"query": ME}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 5):
            yield body[start:start + 5]

    # when
    response = await client.post("/graphql", content=chunks(),
                                 headers={"content-type": "application/json", **_auth(gql)})
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "rep1@demo.test"}}}


async def test_server_answers_normally_after_refusing_a_large_body(client, gql, settings):
    # given
    await _post_raw(client, gql, _padded_body(settings.max_body_bytes * 2))
    # when
    result = await gql(ME)
    # then
    assert result == {"data": {"me": {"email": "rep1@demo.test"}}}


# ---- methods ----------------------------------------------------------------------------------------------------


async def test_query_over_get_works(client, gql):
    # when
    response = await client.get("/graphql", params={"query": ME}, headers=_auth(gql))
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "rep1@demo.test"}}}


async def test_query_over_get_with_variables_works(client, gql):
    # given
    name = f"get-{uuid.uuid4().hex}"
    params = {"query": CUSTOMER_COUNT, "variables": json.dumps({"search": name})}
    # when
    response = await client.get("/graphql", params=params, headers=_auth(gql))
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"customers": {"totalCount": 0}}}


async def test_get_with_variables_that_are_not_json_is_bad_request(client, gql):
    # when
    response = await client.get("/graphql", params={"query": ME, "variables": "{oops"}, headers=_auth(gql))
    # then
    assert_refused(response, 400, "BAD_REQUEST")


async def test_mutation_over_get_is_method_not_allowed_and_creates_nothing(client, gql):
    # given
    name = f"via-get-{uuid.uuid4().hex}"
    params = {"query": CREATE_CUSTOMER, "variables": json.dumps({"input": {"name": name}})}
    # when
    response = await client.get("/graphql", params=params, headers=_auth(gql))
    # then
    assert_refused(response, 405, "METHOD_NOT_ALLOWED")
    assert await _customer_count(gql, name) == 0


async def test_mutation_chosen_by_operation_name_over_get_is_method_not_allowed(client, gql):
    # given
    name = f"via-get-{uuid.uuid4().hex}"
    params = {"query": QUERY_AND_MUTATION, "operationName": "Write",
              "variables": json.dumps({"input": {"name": name}})}
    # when
    response = await client.get("/graphql", params=params, headers=_auth(gql))
    # then
    assert_refused(response, 405, "METHOD_NOT_ALLOWED")
    assert await _customer_count(gql, name) == 0


async def test_mutation_over_post_creates_the_record(gql):
    # given
    name = f"via-post-{uuid.uuid4().hex}"
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": name}})
    # then
    assert result["data"]["createCustomer"]["userErrors"] == []
    assert await _customer_count(gql, name) == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_are_method_not_allowed_as_json(client, gql, method):
    # when
    response = await client.request(method, "/graphql", json={"query": ME}, headers=_auth(gql))
    # then
    assert_refused(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["allow"]


async def test_get_without_query_for_a_browser_serves_graphiql_without_a_token(client):
    # when
    response = await client.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_get_without_query_for_a_program_is_bad_request(client):
    # when
    response = await client.get("/graphql", headers={"accept": "application/json"})
    # then
    assert_refused(response, 400, "BAD_REQUEST")


# ---- health -----------------------------------------------------------------------------------------------------


async def test_healthz_is_ok(client):
    # when
    response = await client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_broker(client):
    # when
    response = await client.get("/readyz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "broker": True}}


# ---- request ids ------------------------------------------------------------------------------------------------


async def test_request_id_is_echoed_back_when_given(client):
    # when
    response = await client.get("/healthz", headers={"x-request-id": "req-42.abc_DEF"})
    # then
    assert response.headers["x-request-id"] == "req-42.abc_DEF"


async def test_request_id_is_generated_when_not_given(client):
    # when
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    # then
    assert GENERATED_ID.match(first.headers["x-request-id"])
    assert GENERATED_ID.match(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("hostile", ["has spaces", "<script>alert(1)</script>", "x" * 65, "a\tb"],
                         ids=["spaces", "markup", "too-long", "tab"])
async def test_unsafe_request_id_is_replaced_by_a_generated_one(client, hostile):
    # when
    response = await client.get("/healthz", headers={"x-request-id": hostile})
    # then
    assert GENERATED_ID.match(response.headers["x-request-id"])


async def test_request_id_is_on_error_responses_too(client, gql):
    # when
    response = await _post_raw(client, gql, b"{oops", **{"x-request-id": "err-1"})
    # then
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "err-1"


# ---- CORS -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def cors_client(settings, db) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings.model_copy(update={"cors_origins": [ALLOWED_ORIGIN]}))
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://tandem.test") as c:
            yield c


def _preflight(origin: str) -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type"}


async def test_cors_preflight_from_an_allowed_origin_is_allowed(cors_client):
    # when
    response = await cors_client.options("/graphql", headers=_preflight(ALLOWED_ORIGIN))
    # then
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_cors_preflight_from_another_origin_is_not_allowed(cors_client):
    # when
    response = await cors_client.options("/graphql", headers=_preflight("https://evil.example.com"))
    # then
    assert response.status_code < 500
    assert "access-control-allow-origin" not in response.headers


async def test_cors_request_from_an_allowed_origin_exposes_the_request_id(cors_client, gql):
    # when
    response = await cors_client.post("/graphql", json={"query": ME},
                                      headers={"origin": ALLOWED_ORIGIN, **_auth(gql)})
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "rep1@demo.test"}}}
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_default_app_allows_no_cross_origin_requests(client):
    # when
    response = await client.options("/graphql", headers=_preflight(ALLOWED_ORIGIN))
    # then
    assert response.status_code < 500
    assert "access-control-allow-origin" not in response.headers


# ---- tokens -----------------------------------------------------------------------------------------------------


def _signed(settings: Any, **claims: Any) -> str:
    now = datetime.now(UTC)
    base = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": now, "exp": now + timedelta(hours=1)}
    return jwt.encode({**base, **claims}, settings.jwt_secret, algorithm="HS256")


def _bad_authorization(kind: str, settings: Any, users: dict[str, Any]) -> str:
    rep = users["rep1@demo.test"]
    acme = users["rep@acme.test"]
    other = "a-completely-different-secret-of-enough-length-0123456789"
    tokens = {
        "garbage": lambda: "Bearer not-a-jwt",
        "empty-bearer": lambda: "Bearer ",
        "basic-scheme": lambda: f"Basic {mint_token(settings, rep)}",
        "expired": lambda: f"Bearer {mint_token(settings, rep, ttl_seconds=-60)}",
        "wrong-audience": lambda: "Bearer " + mint_token(settings.model_copy(update={"jwt_audience": "other"}), rep),
        "wrong-issuer": lambda: "Bearer " + mint_token(settings.model_copy(update={"jwt_issuer": "other"}), rep),
        "wrong-secret": lambda: "Bearer " + mint_token(settings.model_copy(update={"jwt_secret": other}), rep),
        "alg-none": lambda: "Bearer " + jwt.encode(
            {"sub": str(rep.id), "org": rep.org_id, "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
             "exp": datetime.now(UTC) + timedelta(hours=1)}, None, algorithm="none"),
        "unknown-user": lambda: f"Bearer {_signed(settings, sub='987654321', org=rep.org_id)}",
        "user-in-another-org": lambda: f"Bearer {_signed(settings, sub=str(rep.id), org=acme.org_id)}",
        "non-numeric-sub": lambda: f"Bearer {_signed(settings, sub='admin', org=rep.org_id)}",
        "string-org": lambda: f"Bearer {_signed(settings, sub=str(rep.id), org=str(rep.org_id))}",
        "no-exp": lambda: "Bearer " + jwt.encode(
            {"sub": str(rep.id), "org": rep.org_id, "iss": settings.jwt_issuer, "aud": settings.jwt_audience},
            settings.jwt_secret, algorithm="HS256"),
    }
    return tokens[kind]()


@pytest.mark.parametrize("kind", [
    "garbage", "empty-bearer", "basic-scheme", "expired", "wrong-audience", "wrong-issuer", "wrong-secret",
    "alg-none", "unknown-user", "user-in-another-org", "non-numeric-sub", "string-org", "no-exp",
])
async def test_bad_token_is_unauthenticated(client, settings, users, kind):
    # given
    authorization = _bad_authorization(kind, settings, users)
    # when
    response = await client.post("/graphql", json={"query": ME}, headers={"authorization": authorization})
    # then
    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert body.get("data") is None
    assert "Traceback" not in response.text


async def test_execution_error_that_nulls_the_root_returns_data_null(client):
    # given: `me` is non-null, so its UNAUTHENTICATED error nulls the whole result during execution
    # when
    response = await client.post("/graphql", json={"query": ME})
    # then: GraphQL spec 7.1.2, an error during execution leaves `"data": null` in the response
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["path"] == ["me"]
    assert "data" in body
    assert body["data"] is None


async def test_bad_token_cannot_run_a_mutation(client, gql, settings, users):
    # given
    name = f"bad-token-{uuid.uuid4().hex}"
    token = mint_token(settings.model_copy(update={"jwt_secret": "x" * 64}), users["rep1@demo.test"])
    # when
    response = await client.post("/graphql", json={"query": CREATE_CUSTOMER, "variables": {"input": {"name": name}}},
                                 headers={"authorization": f"Bearer {token}"})
    # then
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await _customer_count(gql, name) == 0


# ---- nothing leaks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"{oops",
    b"[]",
    b"[1, 2]",
    b'{"query": "{ me { email "}',
    b'{"query": "{ nope }"}',
    b'{"query": "query ($n: Int!) { customers(first: $n) { totalCount } }", "variables": {"n": "x"}}',
    b'{"query": "query ($n: Int!) { customers(first: $n) { totalCount } }", "variables": {"n": 99999999999}}',
    b'{"query": "{ customers(first: 99999999999) { totalCount } }"}',
    b'{"query": "{ node(id: \\"\\\\u0000\\") { id } }"}',
    b'{"query": "subscription { me { email } }"}',
    b'{"query": "\\u0000"}',
], ids=["broken-json", "empty-batch", "batch-of-numbers", "syntax-error", "unknown-field", "variable-type",
        "int-overflow-variable", "int-overflow-literal", "nul-id", "subscription", "nul-query"])
async def test_odd_requests_never_cause_a_server_error(client, gql, body):
    # when
    response = await _post_raw(client, gql, body)
    # then
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert "errors" in response.json()
    assert all(e["extensions"]["code"] != "INTERNAL" for e in response.json()["errors"])
