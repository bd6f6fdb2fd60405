"""Persisted queries, as clients send them: Apollo's automatic persisted queries (the hash alone, then the hash
with the text once the server says it does not know it) over POST, GET and the websocket, shared between
processes through Redis, and Apollo Client's own persisted-queries link against a running server (Node,
tests/clients/apollo); and trusted-documents mode, where only documents of the deployment's manifest or
registered by the org's admin run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tandem import cli
from tandem.app import create_app
from tandem.persisted import ManifestError
from tests.conftest import REDIS_URL
from tests.factories.realtime import CHANGE_FEED, app_with, connect, feed_end
from tests.factories.servers import free_port
from tests.factories.waiting import eventually

ME = "query Me { me { email name } }"
NEW_TEAM = "mutation NewTeam($n: String!) { createTeam(input: {name: $n}) { team { name } userErrors { code } } }"
TEAMS = "{ teams { name } }"
CREATE_CUSTOMER = ("mutation ($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id name } "
                   "userErrors { code } } }")
REGISTER = ("mutation ($i: RegisterTrustedDocumentInput!) { registerTrustedDocument(input: $i) { "
            "trustedDocument { sha256 name document } userErrors { field code } } }")
LIST = "{ trustedDocuments(first: 50) { totalCount edges { node { sha256 name } } } }"

NOT_FOUND = {"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}
REP, ADMIN, ACME = "rep1@demo.test", "admin@demo.test", "admin@acme.test"


def fresh(document: str) -> str:
    """The document with a comment of its own: a hash no earlier run (sharing Redis) stored."""
    return f"{document}\n# {uuid.uuid4().hex}"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def hashed(document: str, **body: Any) -> dict[str, Any]:
    """The body Apollo's persisted-queries link sends first: the hash alone."""
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}, **body}


def with_text(document: str, **body: Any) -> dict[str, Any]:
    """Its retry after PERSISTED_QUERY_NOT_FOUND: the hash and the text."""
    return {**hashed(document, **body), "query": document}


def bearer(gql: Any, email: str) -> dict[str, str]:
    return {"authorization": f"Bearer {gql.token(email)}"}


def refused_codes(message: dict[str, Any]) -> list[str]:
    """The codes of a websocket ``error`` message (its payload is the list of errors)."""
    assert message["type"] == "error", message
    return [e["extensions"]["code"] for e in message["payload"]]


def code_of(response: httpx.Response) -> str:
    [error] = response.json()["errors"]
    return error["extensions"]["code"]


# --- automatic persisted queries -----------------------------------------------------------------


async def test_apq_round_trip_over_post_as_apollos_link_does_it(client, gql):
    # given a document the server has never seen
    document = fresh(ME)
    # when the client sends its hash alone
    first = await client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))
    # then the server says it does not know it, the way Apollo's link retries on
    assert first.status_code == 200
    assert first.json() == NOT_FOUND
    # when it retries with the text
    second = await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))
    # then it runs, and from then on the hash alone is enough
    assert second.status_code == 200
    assert second.json() == {"data": {"me": {"email": REP, "name": second.json()["data"]["me"]["name"]}}}
    third = await client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))
    assert third.status_code == 200
    assert third.json() == second.json()


async def test_apq_over_get_as_use_get_for_hashed_queries_sends_it(client, gql):
    # given a document with a variable, and Apollo's GET form of a hashed query
    document = fresh("query Team($n: Int) { users(first: $n) { edges { node { email } } } }")
    params = {"operationName": "Team", "variables": json.dumps({"n": 1}),
              "extensions": json.dumps(hashed(document)["extensions"])}
    # when the hash alone comes over GET
    first = await client.get("/graphql", params=params, headers=bearer(gql, REP))
    # then it is not found; the text (over GET too) runs and stores it
    assert first.status_code == 200 and first.json() == NOT_FOUND
    second = await client.get("/graphql", params={**params, "query": document}, headers=bearer(gql, REP))
    assert second.status_code == 200 and len(second.json()["data"]["users"]["edges"]) == 1
    # and the hash alone over GET runs it, with its variables
    third = await client.get("/graphql", params=params, headers=bearer(gql, REP))
    assert third.status_code == 200 and third.json() == second.json()


async def test_a_stored_document_runs_by_its_graphql_over_http_document_id(client, gql):
    # given a stored document
    document = fresh(ME)
    assert (await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))).status_code == 200
    # when it is named by documentId, in a POST body and over GET
    by_post = await client.post("/graphql", json={"documentId": f"sha256:{sha256(document)}"},
                                headers=bearer(gql, REP))
    by_get = await client.get("/graphql", params={"documentId": f"sha256:{sha256(document)}"},
                              headers=bearer(gql, REP))
    malformed = await client.post("/graphql", json={"documentId": "md5:abc"}, headers=bearer(gql, REP))
    # then it runs; a documentId that is no SHA-256 is refused
    assert by_post.json()["data"]["me"]["email"] == REP
    assert by_get.json() == by_post.json()
    assert malformed.status_code == 400 and code_of(malformed) == "PERSISTED_QUERY_INVALID"


async def test_a_stored_mutation_by_hash_over_get_is_refused_and_changes_nothing(client, gql):
    # given a mutation stored by running it over POST
    document = fresh(NEW_TEAM)
    made = await client.post("/graphql", json=with_text(document, variables={"n": f"APQ {uuid.uuid4().hex[:8]}"}),
                             headers=bearer(gql, ADMIN))
    assert made.status_code == 200 and made.json()["data"]["createTeam"]["userErrors"] == []
    # when its hash comes over GET with a new name
    name = f"APQ GET {uuid.uuid4().hex[:8]}"
    response = await client.get("/graphql", headers=bearer(gql, ADMIN), params={
        "extensions": json.dumps(hashed(document)["extensions"]), "variables": json.dumps({"n": name})})
    # then GET runs queries only, and no team was made
    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    teams = await gql(TEAMS, as_=ADMIN)
    assert name not in {t["name"] for t in teams["data"]["teams"]}
    # while the same hash over POST runs it
    again = await client.post("/graphql", json=hashed(document, variables={"n": name}), headers=bearer(gql, ADMIN))
    assert again.json()["data"]["createTeam"]["team"] == {"name": name}


async def test_a_text_that_is_not_its_hash_is_refused_and_not_stored(client, gql):
    # given a hash and the text of another document
    document, other = fresh(ME), fresh(ME)
    body = {**hashed(document), "query": other}
    # when it is sent
    response = await client.post("/graphql", json=body, headers=bearer(gql, REP))
    # then it is refused, and neither document is known by that hash
    assert response.status_code == 400
    assert code_of(response) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert (await client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))).json() == NOT_FOUND


@pytest.mark.parametrize("extensions", [
    {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}},
    {"persistedQuery": {"version": "1", "sha256Hash": "a" * 64}},
    {"persistedQuery": {"version": True, "sha256Hash": "a" * 64}},
    {"persistedQuery": {"version": 1, "sha256Hash": "a" * 63}},
    {"persistedQuery": {"version": 1, "sha256Hash": "z" * 64}},
    {"persistedQuery": {"version": 1}},
    {"persistedQuery": "abc"},
    ["persistedQuery"],
], ids=["version-2", "version-string", "version-true", "short-hash", "not-hex", "no-hash", "not-object",
        "extensions-list"])
async def test_a_malformed_persisted_query_is_a_specific_bad_request(client, gql, extensions):
    # when
    response = await client.post("/graphql", json={"extensions": extensions}, headers=bearer(gql, REP))
    # then
    assert response.status_code == 400
    assert code_of(response) == "PERSISTED_QUERY_INVALID"


async def test_extensions_that_are_not_json_over_get_are_a_bad_request(client, gql):
    response = await client.get("/graphql", params={"extensions": "{persistedQuery"}, headers=bearer(gql, REP))
    assert response.status_code == 400
    assert code_of(response) == "PERSISTED_QUERY_INVALID"


async def test_an_invalid_document_runs_as_usual_but_is_not_stored(client, gql):
    # given a document that does not validate, sent with its hash
    document = fresh("{ me { shoeSize } }")
    # when
    response = await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))
    # then the client hears why, and its hash stays unknown
    assert code_of(response) == "BAD_USER_INPUT"
    assert (await client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))).json() == NOT_FOUND


async def test_a_document_over_the_size_limit_runs_but_is_not_stored(settings, gql):
    # given a server storing documents of at most 60 bytes
    document = fresh(ME) + "\n# " + "x" * 60
    async with app_with(settings, persisted_query_max_bytes=60) as small, _http(small) as client:
        # when the client registers a longer one
        response = await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))
        # then it runs, and its hash alone is still unknown (the client keeps sending the text)
        assert response.json()["data"]["me"]["email"] == REP
        assert (await client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))).json() == NOT_FOUND


async def test_the_store_keeps_at_most_its_entries_and_forgets_the_oldest(settings, gql):
    # given a server storing at most two documents (in Redis, and in its memory)
    documents = [fresh(ME) for _ in range(3)]
    async with app_with(settings, persisted_query_max_entries=2) as small, _http(small) as client:
        # when three are registered, one after the other
        for document in documents:
            registered = await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))
            assert registered.status_code == 200
        # then the oldest is forgotten and the last two still run by hash
        answers = [(await client.post("/graphql", json=hashed(d), headers=bearer(gql, REP))).json() for d in documents]
    assert answers[0] == NOT_FOUND
    assert [a["data"]["me"]["email"] for a in answers[1:]] == [REP, REP]


async def test_with_persisted_queries_off_the_hash_alone_is_not_supported(settings, gql):
    async with app_with(settings, persisted_queries=False) as off, _http(off) as client:
        response = await client.post("/graphql", json=hashed(fresh(ME)), headers=bearer(gql, REP))
        assert response.status_code == 200
        assert code_of(response) == "PERSISTED_QUERY_NOT_SUPPORTED"
        # and a plain request is as ever
        plain = await client.post("/graphql", json={"query": ME}, headers=bearer(gql, REP))
        assert plain.json()["data"]["me"]["email"] == REP


async def test_a_document_stored_by_one_process_runs_by_hash_in_another_through_redis(app, client, settings, gql):
    # given a document registered with one app
    document = fresh(ME)
    assert (await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))).status_code == 200
    # when a second app (another process, the same database and Redis) gets the hash alone
    async with app_with(settings) as other, _http(other) as other_client:
        response = await other_client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))
    # then with Redis it knows it; without Redis each process has its own store
    if REDIS_URL:
        assert response.json()["data"]["me"]["email"] == REP
    else:
        assert response.json() == NOT_FOUND


async def test_apq_over_the_websocket_for_a_query_and_a_subscription(app, gql):
    document = fresh(ME)
    feed = fresh(CHANGE_FEED)
    after = await feed_end(gql, app, as_=REP)
    async with connect(app, gql.token(REP)) as socket:
        # when a subscribe message names an unknown document by hash
        await socket.send({"id": "1", "type": "subscribe", "payload": hashed(document)})
        refused = await socket.message("1")
        # then that operation gets the same error as over HTTP, and the socket stays open
        assert refused_codes(refused) == ["PERSISTED_QUERY_NOT_FOUND"]
        # when the text comes with the hash, then by hash alone
        await socket.send({"id": "2", "type": "subscribe", "payload": with_text(document)})
        ran = await socket.message("2")
        await socket.send({"id": "3", "type": "subscribe", "payload": hashed(document)})
        again = await socket.message("3")
        # then both run
        assert ran["type"] == again["type"] == "next"
        assert ran["payload"] == again["payload"] == {"data": {"me": {"email": REP,
                                                                     "name": ran["payload"]["data"]["me"]["name"]}}}
        # and a subscription registered by its text is then started by its hash alone
        variables = {"types": ["Customer"], "after": after}
        await socket.send({"id": "4", "type": "subscribe", "payload": with_text(feed, variables=variables)})
        await socket.send({"id": "4", "type": "complete"})
        await socket.send({"id": "5", "type": "subscribe", "payload": hashed(feed, variables=variables)})
        name = f"APQ 客户 {uuid.uuid4().hex[:6]}"
        created = await gql(CREATE_CUSTOMER, {"i": {"name": name}}, as_=REP)
        assert created["data"]["createCustomer"]["userErrors"] == []
        events = await socket.events("5", 1, "changeFeed")
        assert events[0]["recordId"] == created["data"]["createCustomer"]["customer"]["id"]


# --- trusted documents ---------------------------------------------------------------------------


@pytest.fixture
def manifest(tmp_path):
    """An Apollo persisted query manifest (as @apollo/generate-persisted-query-manifest writes it) holding ME."""
    path = tmp_path / "persisted-query-manifest.json"
    path.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": sha256(ME), "name": "Me", "type": "query", "body": ME}]}))
    return str(path)


async def test_trusted_mode_runs_the_manifests_documents_and_refuses_others(settings, gql, manifest):
    async with app_with(settings, trusted_documents=manifest) as trusted, _http(trusted) as client:
        # when a document of the manifest comes by hash, or as identical text
        by_hash = await client.post("/graphql", json=hashed(ME), headers=bearer(gql, REP))
        by_text = await client.post("/graphql", json={"query": ME}, headers=bearer(gql, REP))
        by_get = await client.get("/graphql", params={"extensions": json.dumps(hashed(ME)["extensions"])},
                                  headers=bearer(gql, REP))
        # then it runs
        assert by_hash.json()["data"]["me"]["email"] == REP
        assert by_text.json() == by_hash.json() == by_get.json()
        # when anything else comes: other text, an unknown hash, a hash with its text (no registering here)
        other = await client.post("/graphql", json={"query": "{ me { email } }"}, headers=bearer(gql, REP))
        unknown = await client.post("/graphql", json=hashed(fresh(ME)), headers=bearer(gql, REP))
        document = fresh(ME)
        registering = await client.post("/graphql", json=with_text(document), headers=bearer(gql, REP))
        # then each is refused, and the last is still unknown afterwards
        for response in (other, unknown, registering):
            assert response.status_code == 403
            assert code_of(response) == "PERSISTED_QUERY_NOT_ALLOWED"
        assert code_of(await client.post("/graphql", json=hashed(document),
                                         headers=bearer(gql, REP))) == "PERSISTED_QUERY_NOT_ALLOWED"
        # and over the websocket too
        async with connect(trusted, gql.token(REP)) as socket:
            await socket.send({"id": "1", "type": "subscribe", "payload": {"query": "{ me { email } }"}})
            refused = await socket.message("1")
            await socket.send({"id": "2", "type": "subscribe", "payload": hashed(ME)})
            allowed = await socket.message("2")
        assert refused_codes(refused) == ["PERSISTED_QUERY_NOT_ALLOWED"]
        assert allowed["type"] == "next" and allowed["payload"]["data"]["me"]["email"] == REP


async def test_an_admin_registers_a_trusted_document_for_their_org(settings, gql):
    document = fresh("query Mine { me { email } }")
    async with app_with(settings, trusted_documents="on") as trusted, _http(trusted) as client:
        # given a document nobody registered is refused
        before = await client.post("/graphql", json={"query": document}, headers=bearer(gql, REP))
        assert code_of(before) == "PERSISTED_QUERY_NOT_ALLOWED"
        # when the org's admin registers it (the registering mutation itself always gets through)
        registered = await client.post("/graphql", headers=bearer(gql, ADMIN), json={
            "query": REGISTER, "variables": {"i": {"document": document, "name": "Mine"}}})
        payload = registered.json()["data"]["registerTrustedDocument"]
        assert payload == {"trustedDocument": {"sha256": sha256(document), "name": "Mine", "document": document},
                           "userErrors": []}
        # then the org's users run it, by text and by hash, over HTTP and the websocket
        by_text = await client.post("/graphql", json={"query": document}, headers=bearer(gql, REP))
        by_hash = await client.post("/graphql", json=hashed(document), headers=bearer(gql, REP))
        assert by_text.json() == by_hash.json() == {"data": {"me": {"email": REP}}}
        async with connect(trusted, gql.token(REP)) as socket:
            await socket.send({"id": "1", "type": "subscribe", "payload": hashed(document)})
            assert (await socket.message("1"))["payload"] == {"data": {"me": {"email": REP}}}
        # but another org's users do not: trust is per org
        acme = await client.post("/graphql", json={"query": document}, headers=bearer(gql, ACME))
        assert acme.status_code == 403 and code_of(acme) == "PERSISTED_QUERY_NOT_ALLOWED"
        # registering it again changes nothing, and the admin lists it once
        again = await client.post("/graphql", headers=bearer(gql, ADMIN), json={
            "query": REGISTER, "variables": {"i": {"document": document, "name": "Other name"}}})
        assert again.json()["data"]["registerTrustedDocument"]["trustedDocument"]["name"] == "Mine"
        listed = await client.post("/graphql", json={"query": LIST}, headers=bearer(gql, ADMIN))
        names = [e["node"] for e in listed.json()["data"]["trustedDocuments"]["edges"]]
        assert names.count({"sha256": sha256(document), "name": "Mine"}) == 1


async def test_only_an_admin_registers_and_only_valid_documents(client, gql):
    # when a rep tries to register a document, or to list them
    by_rep = await gql(REGISTER, {"i": {"document": fresh(ME)}}, as_=REP)
    listed = await gql(LIST, as_=REP)
    # then both are forbidden
    assert by_rep["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # when the admin registers what is no valid document of the schema, or nothing
    for document, code in (("{ me { shoeSize } }", "INVALID"), ("query {", "INVALID"), ("  ", "REQUIRED")):
        result = await gql(REGISTER, {"i": {"document": document}}, as_=ADMIN)
        # then it is a userError on the document, and nothing is registered
        assert result["data"]["registerTrustedDocument"] == {
            "trustedDocument": None, "userErrors": [{"field": ["document"], "code": code}]}
    documents = (await gql(LIST, as_=ADMIN))["data"]["trustedDocuments"]["edges"]
    assert sha256("{ me { shoeSize } }") not in {e["node"]["sha256"] for e in documents}


@pytest.mark.parametrize("content", ['{"abc": 1}', "[1, 2]", "not json",
                                     '{"format": "apollo-persisted-query-manifest", "operations": [{"id": 1}]}'])
def test_a_manifest_the_server_cannot_read_stops_it_from_starting(settings, tmp_path, content):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ManifestError):
        create_app(settings.model_copy(update={"trusted_documents": str(path)}))


def test_tandem_serve_refuses_a_manifest_it_cannot_read_in_one_line(settings, tmp_path):
    # given a manifest path with nothing there, and one that is no manifest
    missing, broken = tmp_path / "missing.json", tmp_path / "broken.json"
    broken.write_text("[1, 2]")
    for path in (missing, broken):
        # when `tandem serve` checks its settings
        said = cli.refusal(settings.model_copy(update={"jwt_secret": "x" * 40, "trusted_documents": str(path)}), 1)
        # then it refuses, naming the setting and the file, in one line
        assert said is not None and said.startswith("TANDEM_TRUSTED_DOCUMENTS") and str(path) in said
        assert "\n" not in said


def test_a_codegen_manifest_maps_hashes_to_documents(settings, tmp_path):
    # given GraphQL Codegen's persisted-documents.json (hash -> document)
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256(ME): ME}))
    # when the app starts in trusted mode with it
    application = create_app(settings.model_copy(update={"trusted_documents": str(path)}))
    # then it knows the document by its hash
    assert application.state.persisted.manifest == {sha256(ME): ME}


# --- Apollo Client itself ------------------------------------------------------------------------

APOLLO = Path(__file__).resolve().parents[1] / "clients" / "apollo"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def apollo() -> Path:
    """tests/clients/apollo with its pinned packages installed (npm ci, once)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm")
    if not (APOLLO / "node_modules" / "@apollo" / "client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APOLLO, check=True, capture_output=True,
                       timeout=300)
    return APOLLO


def _launch(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TANDEM_DATABASE_URL": database_url, "TANDEM_LOG_LEVEL": "WARNING"}
    env.pop("TANDEM_REDIS_URL", None)
    if REDIS_URL:
        env["TANDEM_REDIS_URL"] = REDIS_URL
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tandem.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
async def server(database_url: str, db: Any, tmp_path: Path) -> AsyncIterator[str]:
    """A uvicorn process serving the test database (and the test Redis, when there is one)."""
    port, log = free_port(), tmp_path / "server.log"
    process = _launch(database_url, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            async def ready() -> bool:
                assert process.poll() is None, log.read_text()
                try:
                    return (await http.get(f"{url}/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, within=30.0, every=0.1, what="the server to be ready")
        yield f"{url}/graphql"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def test_apollo_clients_persisted_queries_link_round_trip(apollo, server, gql):
    # given two Apollo Clients, each with the persisted-queries link sending hashed queries over GET
    suffix = uuid.uuid4().hex[:12]
    # when each runs the same query, one after the other
    run = await asyncio.to_thread(subprocess.run, ["node", "apq.mjs", server, gql.token(REP), suffix], cwd=apollo,
                                  capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    # then both got the answer
    assert seen["first"]["me"]["email"] == seen["second"]["me"]["email"] == REP
    # the first client's hash was unknown, so its link retried with the text; the second's hash alone sufficed
    assert seen["requests"] == [
        {"method": "GET", "query": False, "hash": True, "status": 200, "codes": ["PERSISTED_QUERY_NOT_FOUND"]},
        {"method": "POST", "query": True, "hash": True, "status": 200, "codes": []},
        {"method": "GET", "query": False, "hash": True, "status": 200, "codes": []},
    ]


def _http(application: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://tandem.test")
