"""GraphQL over HTTP (the GraphQL Foundation's spec): a client that accepts
``application/graphql-response+json`` gets that media type, a 4xx for a request that could not run (no
``data``: unparsable body or document, invalid document, bad variables) and a 200 whenever execution
started; a client that asks for ``application/json`` (or says nothing) gets what it always got."""

from __future__ import annotations

import pytest

from tandem.http import GRAPHQL_RESPONSE, JSON, negotiate

PAGE = "{ opportunities(first: 2) { edges { node { name } } } }"


async def _post(client, gql, body: dict | str, accept: str | None, as_: str | None = "rep1@demo.test"):
    headers = {"content-type": "application/json"}
    if accept is not None:
        headers["accept"] = accept
    if as_:
        headers["authorization"] = f"Bearer {gql.token(as_)}"
    if isinstance(body, str):
        return await client.post("/graphql", content=body, headers=headers)
    return await client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(("body", "status", "has_data"), [
    ({"query": PAGE}, 200, True),
    ({"query": "{ opportunities(first: 2) { edges { node { name } } }"}, 400, False),  # syntax error
    ({"query": "{ nope }"}, 400, False),  # invalid document
    ({"query": "query ($n: Int!) { opportunities(first: $n) { totalCount } }", "variables": {"n": "two"}},
     400, False),  # variables that do not coerce
    ({"query": "query ($n: Int!) { opportunities(first: $n) { totalCount } }"}, 400, False),  # missing
    ('{"query": ', 400, False),  # not JSON
    ({"query": '{ opportunity(id: "T3Bwb3J0dW5pdHk6OTk5OTk5") { name } }'}, 200, True),  # a field error
])
async def test_graphql_response_json_answers_request_errors_with_400(client, gql, body, status, has_data):
    # when a client that accepts application/graphql-response+json sends the request
    response = await _post(client, gql, body, GRAPHQL_RESPONSE)
    # then the answer has that media type, a 400 exactly when the request could not run, and data otherwise
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.status_code == status, response.text
    answer = response.json()
    assert ("data" in answer) == has_data
    if not has_data:
        assert answer["errors"] and all("message" in e for e in answer["errors"])


@pytest.mark.parametrize("accept", [None, JSON, "*/*", "application/*", "application/json, text/plain"])
async def test_application_json_clients_keep_their_answers(client, gql, accept):
    # when a client that asks for application/json (or nothing) sends an invalid document
    response = await _post(client, gql, {"query": "{ nope }"}, accept)
    # then it gets what it always got: application/json, 200 with the errors
    assert response.headers["content-type"] == JSON
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_same_data_whichever_media_type(client, gql):
    legacy = await _post(client, gql, {"query": PAGE}, JSON)
    current = await _post(client, gql, {"query": PAGE}, GRAPHQL_RESPONSE)
    assert legacy.status_code == current.status_code == 200
    assert legacy.content == current.content


async def test_a_client_that_accepts_neither_gets_406(client, gql):
    response = await _post(client, gql, {"query": PAGE}, "text/html")
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_a_mutation_over_get_is_405_in_the_accepted_media_type(client, gql):
    response = await client.get("/graphql", params={"query": "mutation { __typename }"},
                                headers={"accept": GRAPHQL_RESPONSE,
                                         "authorization": f"Bearer {gql.token('rep1@demo.test')}"})
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)


@pytest.mark.parametrize(("accept", "chosen"), [
    (None, JSON), ("", JSON), ("*/*", JSON), (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE}, {JSON}", GRAPHQL_RESPONSE), (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON), (f"{JSON};q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE};q=0", None), ("text/html", None), ("image/*;q=1", None),
    (f"{GRAPHQL_RESPONSE};q=nonsense, {JSON};q=0.1", JSON), (f"{GRAPHQL_RESPONSE.upper()}", GRAPHQL_RESPONSE),
])
def test_accept_negotiation(accept, chosen):
    assert negotiate(accept) == chosen
