"""Tokens from an identity provider (Keycloak, Auth0, Entra ID, ...): RS256 and ES256 tokens verified with the keys
a JWKS URL publishes — here a real HTTP server on loopback serving keys this module generates — and their string
``sub`` (or verified e-mail) mapped to a Tandem user, over HTTP and the websocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpx_ws import WebSocketDisconnect
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from sqlalchemy import update

from tandem import auth
from tandem.auth import mint_token
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import User, create_user
from tandem.schema.node import to_global_id
from tandem.settings import Settings
from tests.factories.api.answers import ok
from tests.factories.api.crm import log_call, new_opportunity
from tests.factories.realtime import TIMELINE, app_with, connect, shared_relay_paused, subscribe_live

README = Path(__file__).resolve().parent.parent / "README.md"
ISSUER = "https://idp.example.test/realms/tandem"
AUDIENCE = "tandem-api-client"

ME = "{ me { email } }"
MY_CUSTOMERS = "{ customers(first: 5) { totalCount edges { node { name } } } }"
UPDATE_USER = """
mutation ($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id email externalId } userErrors { field code } }
}"""
INVITE_USER = """
mutation ($input: InviteUserInput!) {
  inviteUser(input: $input) { user { id email externalId } userErrors { field code } }
}"""


# ---- the identity provider: keys, a JWKS endpoint, tokens ------------------------------------------------------


class Key:
    """A signing key of the identity provider: its private half signs tokens, its public JWK is published."""

    def __init__(self, kind: str, kid: str) -> None:
        self.kid = kid
        if kind == "RSA":
            self.alg, self.private = "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.alg, self.private = "ES256", ec.generate_private_key(ec.SECP256R1())
            public = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**public, "kid": kid, "use": "sig", "alg": self.alg}
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **headers})


class JwksServer:
    """``GET /jwks`` answers the published keys (or ``status``, after ``delay`` seconds), counting fetches."""

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.fetches = 0
        self.status = 200
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                time.sleep(server.delay)
                body = json.dumps({"keys": [k.jwk for k in server.keys]}).encode()
                self.send_response(server.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks"

    def publish(self, *keys: Key) -> None:
        self.keys, self.status, self.delay = list(keys), 200, 0.0


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    thread = threading.Thread(target=server.http.serve_forever, daemon=True)
    thread.start()
    yield server
    server.http.shutdown()
    server.http.server_close()


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return Key("RSA", f"rsa-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return Key("EC", f"ec-{uuid.uuid4().hex[:8]}")


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + timedelta(hours=1), **overrides}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def forged_hs256(payload: dict[str, Any], secret: bytes, **headers: Any) -> str:
    """A token signed HS256 with ``secret`` by hand (PyJWT refuses a PEM as an HMAC secret, rightly)."""
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', **headers})}.{part(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


# ---- Tandem: two orgs of people, and apps that trust the identity provider --------------------------------------


class People:
    def __init__(self, tag: str, **users: User) -> None:
        self.tag = tag
        self.users = users

    def __getattr__(self, name: str) -> User:
        return self.users[name]


@pytest.fixture(scope="module")
async def people(db: Any) -> People:
    tag = uuid.uuid4().hex[:10]
    async with db.write() as session:
        north = await create_org(session, f"IdP North {tag}")
        south = await create_org(session, f"IdP South {tag}")
        made = {}
        for name, org, roles, external_id in [
            ("admin", north, ["admin"], None), ("rep", north, ["sales_rep"], None),
            ("mailed", north, ["sales_rep"], None), ("leaver", north, ["sales_rep"], f"leaver|{tag}"),
            ("twin_north", north, ["sales_rep"], f"twin|{tag}"), ("twin_south", south, ["sales_rep"], f"twin|{tag}"),
            ("elsewhere", south, ["sales_rep"], f"elsewhere|{tag}"),
        ]:
            made[name] = await create_user(session, org.id, email=f"{name}-{tag}@idp.test", name=name, roles=roles,
                                           external_id=external_id)
    return People(tag, **made)


def idp_settings(settings: Settings, jwks: JwksServer, **overrides: Any) -> dict[str, Any]:
    return {"jwt_jwks_url": jwks.url, "jwt_jwks_issuer": ISSUER, "jwt_jwks_audience": AUDIENCE,
            "jwt_jwks_refresh_seconds": 0.5, **overrides}


@contextlib.asynccontextmanager
async def tandem(settings: Settings, jwks: JwksServer, **overrides: Any) -> AsyncIterator[tuple[Any, Client]]:
    """An app trusting the identity provider (a fresh key cache each), and a client of it."""
    async with (
        app_with(settings, **idp_settings(settings, jwks, **overrides)) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tandem.test") as http,
    ):
        yield app, Client(http)


class Client:
    """Posts GraphQL with a token (``as_``), as tests/factories' helpers expect of ``gql``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None, *, as_: str) -> httpx.Response:
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                    headers=bearer(as_))

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *, as_: str) -> dict[str, Any]:
        response = await self.raw(query, variables, as_=as_)
        assert response.status_code == 200, response.text
        return response.json()


async def refusal(client: Client, token: str) -> str:
    """Why the API refuses the token (the UNAUTHENTICATED error's message), failing if it does not."""
    response = await client.raw(ME, as_=token)
    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", body
    assert body["data"] is None
    return error["message"]


async def me(client: Client, token: str) -> str:
    body = await client(ME, as_=token)
    assert "errors" not in body, body
    return body["data"]["me"]["email"]


# ---- mapping a token's user -------------------------------------------------------------------------------------


async def test_rs256_token_signs_in_as_the_user_an_admin_gave_its_external_id(settings, jwks, rsa_key, people):
    # given an Auth0-style subject the admin records on the rep (with one of Tandem's own tokens)
    jwks.publish(rsa_key)
    subject = f"auth0|{people.tag}"
    async with tandem(settings, jwks) as (_app, client):
        admin = mint_token(settings, people.admin)
        before = await refusal(client, rsa_key.sign(claims(sub=subject)))
        result = await client(UPDATE_USER, {"input": {"userId": _user_id(people.rep), "externalId": subject}},
                              as_=admin)
        assert ok(result, "updateUser")["user"]["externalId"] == subject

        # when the provider's token names that subject
        token = rsa_key.sign(claims(sub=subject))
        email = await me(client, token)
        again = await me(client, token)

    # then it is the rep's token (and was nobody's before)
    assert before == auth.UNMAPPED_USER
    assert email == again == people.rep.email


async def test_es256_token_maps_by_a_verified_email(settings, jwks, ec_key, people):
    # given a Keycloak-style token: a UUID subject nobody has, and the user's verified e-mail
    jwks.publish(ec_key)
    token = ec_key.sign(claims(sub=str(uuid.uuid4()), email=people.mailed.email.upper(), email_verified=True))
    async with tandem(settings, jwks) as (_app, client):
        # when
        email = await me(client, token)
    # then
    assert email == people.mailed.email


@pytest.mark.parametrize("verified", [False, "true", None], ids=["false", "a string", "absent"])
async def test_an_email_not_verified_as_true_maps_to_nobody(settings, jwks, ec_key, people, verified):
    # given
    jwks.publish(ec_key)
    extra = {} if verified is None else {"email_verified": verified}
    token = ec_key.sign(claims(sub=str(uuid.uuid4()), email=people.mailed.email, **extra))
    async with tandem(settings, jwks) as (_app, client):
        # when
        reason = await refusal(client, token)
    # then
    assert reason == auth.UNMAPPED_USER


async def test_email_mapping_is_off_with_an_empty_email_claim(settings, jwks, ec_key, people):
    # given
    jwks.publish(ec_key)
    token = ec_key.sign(claims(sub=str(uuid.uuid4()), email=people.mailed.email, email_verified=True))
    async with tandem(settings, jwks, jwt_email_claim="") as (_app, client):
        # when
        reason = await refusal(client, token)
    # then
    assert reason == auth.UNMAPPED_USER


async def test_namespaced_email_claims_are_read(settings, jwks, rsa_key, people):
    # given an Auth0-style token whose e-mail claims an Action added under a namespace
    jwks.publish(rsa_key)
    ns = "https://tandem.example.test/"
    token = rsa_key.sign(claims(sub=f"auth0|{uuid.uuid4().hex}", **{f"{ns}email": people.mailed.email,
                                                                     f"{ns}email_verified": True}))
    async with tandem(settings, jwks, jwt_email_claim=f"{ns}email",
                      jwt_email_verified_claim=f"{ns}email_verified") as (_app, client):
        # when
        email = await me(client, token)
    # then
    assert email == people.mailed.email


async def test_configured_user_and_org_claims_are_read(settings, jwks, rsa_key, people):
    # given an Entra-style token: the object id in `oid`, the org in a custom claim
    jwks.publish(rsa_key)
    token = rsa_key.sign(claims(sub="pairwise-subject", oid=f"twin|{people.tag}",
                                tandem_org=str(people.twin_south.org_id)))
    async with tandem(settings, jwks, jwt_user_claim="oid", jwt_org_claim="tandem_org") as (_app, client):
        # when
        email = await me(client, token)
    # then
    assert email == people.twin_south.email


@pytest.mark.parametrize("case", ["no org claim", "an org claim naming another org", "a non-numeric org claim",
                                  "no user claim", "an inactive user"])
async def test_a_token_that_names_no_single_active_user_is_refused(settings, db, jwks, rsa_key, people,
                                                                     case):
    # given
    jwks.publish(rsa_key)
    tag = people.tag
    token, expected = {
        "no org claim": (claims(sub=f"twin|{tag}"), auth.AMBIGUOUS_USER),
        "an org claim naming another org": (claims(sub=f"elsewhere|{tag}", org=people.admin.org_id),
                                            auth.UNMAPPED_USER),
        "a non-numeric org claim": (claims(sub=f"elsewhere|{tag}", org="south"), auth.BAD_ORG),
        "no user claim": (claims(email=people.mailed.email, email_verified=True), auth.NO_USER_CLAIM),
        "an inactive user": (claims(sub=f"nobody-active|{tag}", email=people.leaver.email, email_verified=True,
                                    org=people.leaver.org_id), auth.UNMAPPED_USER),
    }[case]
    async with tandem(settings, jwks) as (_app, client):
        if case == "an inactive user":
            await _set_active(db, people.leaver, False)
        try:
            # when
            reason = await refusal(client, rsa_key.sign(token))
        finally:
            await _set_active(db, people.leaver, True)
    # then
    assert reason == expected


async def test_the_org_claim_picks_the_user_among_orgs(settings, jwks, rsa_key, people):
    # given the same external id in two orgs, and a token naming one of them (as an int and as a string)
    jwks.publish(rsa_key)
    async with tandem(settings, jwks) as (_app, client):
        # when
        north = await me(client, rsa_key.sign(claims(sub=f"twin|{people.tag}", org=people.twin_north.org_id)))
        south = await me(client, rsa_key.sign(claims(sub=f"twin|{people.tag}", org=str(people.twin_south.org_id))))
    # then
    assert (north, south) == (people.twin_north.email, people.twin_south.email)


async def test_deactivating_the_user_takes_effect_on_a_remembered_token(settings, db, jwks, rsa_key, people):
    # given a token that worked (its mapping is remembered)
    jwks.publish(rsa_key)
    token = rsa_key.sign(claims(sub=f"leaver|{people.tag}"))
    async with tandem(settings, jwks) as (_app, client):
        assert await me(client, token) == people.leaver.email
        # when the user is deactivated
        await _set_active(db, people.leaver, False)
        try:
            reason = await refusal(client, token)
        finally:
            await _set_active(db, people.leaver, True)
    # then
    assert reason == auth.UNKNOWN_USER


# ---- keys: rotation, refusals, an unreachable provider -------------------------------------------------------------


async def test_a_rotated_key_is_fetched_once_the_refresh_interval_has_passed(settings, jwks, rsa_key, people):
    # given an app that has fetched the published keys once
    jwks.publish(rsa_key)
    subject = f"leaver|{people.tag}"
    new_key = Key("EC", f"rotated-{uuid.uuid4().hex[:8]}")
    async with tandem(settings, jwks, jwt_jwks_refresh_seconds=1.0) as (_app, client):
        assert await me(client, rsa_key.sign(claims(sub=subject))) == people.leaver.email
        fetched = jwks.fetches

        # when the provider rotates to a key the app has not seen, and a flood of unknown kids arrives at once
        jwks.publish(rsa_key, new_key)
        early = await refusal(client, new_key.sign(claims(sub=subject)))
        flood = await asyncio.gather(*(refusal(client, new_key.sign(claims(sub=subject), kid=f"bogus-{n}"))
                                       for n in range(20)))
        fetches_in_the_flood = jwks.fetches - fetched
        await asyncio.sleep(1.1)
        later = await me(client, new_key.sign(claims(sub=subject)))

    # then the new key is fetched at most once per refresh interval, and works after it
    assert early == auth.UNKNOWN_KEY
    assert set(flood) == {auth.UNKNOWN_KEY}
    assert fetches_in_the_flood <= 1
    assert later == people.leaver.email
    assert jwks.fetches - fetched <= 2


def _refused(kind: str, key: Key, other: Key, subject: str) -> tuple[str, str]:
    """A token that must be refused, and the reason the API must give."""
    tokens = {
        "wrong issuer": (lambda: key.sign(claims(sub=subject, iss="https://evil.example.test")), auth.WRONG_ISSUER),
        "wrong audience": (lambda: key.sign(claims(sub=subject, aud="another-api")), auth.WRONG_AUDIENCE),
        "expired": (lambda: key.sign(claims(sub=subject, exp=datetime.now(UTC) - timedelta(minutes=5))),
                    auth.EXPIRED),
        "no expiry": (lambda: key.sign({k: v for k, v in claims(sub=subject).items() if k != "exp"}), auth.INVALID),
        "alg none": (lambda: jwt.encode(claims(sub=subject), None, algorithm="none", headers={"kid": key.kid}),
                     auth.INVALID),
        "HS256 signed with the public key, with its kid": (
            lambda: forged_hs256(claims(sub=subject), key.public_pem, kid=key.kid), auth.INVALID),
        "HS256 signed with the public key, no kid": (
            lambda: forged_hs256(claims(sub=subject), key.public_pem), auth.INVALID),
        "signed by another key under a published kid": (
            lambda: jwt.encode(claims(sub=subject), other.private, algorithm=other.alg, headers={"kid": key.kid}),
            auth.INVALID),
        "an unpublished kid": (lambda: other.sign(claims(sub=subject)), auth.UNKNOWN_KEY),
        "garbage": (lambda: "not.a.jwt", auth.INVALID),
    }
    make, reason = tokens[kind]
    return make(), reason


REFUSED = ["wrong issuer", "wrong audience", "expired", "no expiry", "alg none",
           "HS256 signed with the public key, with its kid", "HS256 signed with the public key, no kid",
           "signed by another key under a published kid", "an unpublished kid", "garbage"]


@pytest.mark.parametrize("kind", REFUSED)
async def test_a_bad_provider_token_is_unauthenticated_with_its_reason(settings, jwks, rsa_key, people, kind):
    # given
    jwks.publish(rsa_key)
    other = Key("RSA", f"other-{uuid.uuid4().hex[:8]}")
    token, expected = _refused(kind, rsa_key, other, f"leaver|{people.tag}")
    async with tandem(settings, jwks) as (_app, client):
        # when
        reason = await refusal(client, token)
    # then
    assert reason == expected


@pytest.mark.parametrize("status", [503, 200], ids=["an error status", "no keys"])
async def test_keys_that_cannot_be_fetched_are_a_clear_refusal_not_an_error(settings, jwks, rsa_key, people,
                                                                             status):
    # given a provider whose JWKS endpoint fails (or publishes nothing)
    jwks.publish()
    jwks.status = status
    async with tandem(settings, jwks) as (_app, client):
        # when
        response = await client.raw(ME, as_=rsa_key.sign(claims(sub=f"leaver|{people.tag}")))
    # then
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert (error["extensions"]["code"], error["message"]) == ("UNAUTHENTICATED", auth.KEYS_UNAVAILABLE)


async def test_an_unreachable_provider_is_a_clear_refusal(settings, jwks, rsa_key, people):
    # given nothing listening where the keys should be
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/jwks"
    async with tandem(settings, jwks, jwt_jwks_url=url) as (_app, client):
        # when
        reason = await refusal(client, rsa_key.sign(claims(sub=f"leaver|{people.tag}")))
    # then
    assert reason == auth.KEYS_UNAVAILABLE


async def test_a_slow_provider_holds_up_no_other_request(settings, jwks, rsa_key, people):
    # given a JWKS endpoint that takes a second to answer
    jwks.publish(rsa_key)
    jwks.delay = 1.0
    own = mint_token(settings, people.rep)
    async with tandem(settings, jwks) as (_app, client):
        # when a request with one of Tandem's own tokens comes while a provider token waits for the keys
        waiting = asyncio.create_task(me(client, rsa_key.sign(claims(sub=f"leaver|{people.tag}"))))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        own_email = await me(client, own)
        own_took = time.monotonic() - started
        provider_email = await waiting
    # then it is answered at once, and the provider's token once the keys arrive
    assert own_email == people.rep.email
    assert own_took < 0.5
    assert provider_email == people.leaver.email


async def test_tandems_own_tokens_still_work_beside_the_provider(settings, jwks, rsa_key, people):
    # given
    jwks.publish(rsa_key)
    async with tandem(settings, jwks) as (_app, client):
        # when
        email = await me(client, mint_token(settings, people.admin))
    # then
    assert email == people.admin.email


# ---- the rest of the API with a provider token ------------------------------------------------------------------


async def test_an_admin_invites_a_user_with_an_external_id_once_per_org(settings, jwks, rsa_key, people):
    # given
    jwks.publish(rsa_key)
    subject = f"kc-{uuid.uuid4()}"
    invite = {"email": f"invited-{people.tag}@idp.test", "name": "Invited", "roles": ["sales_rep"],
              "externalId": subject}
    async with tandem(settings, jwks) as (_app, client):
        admin = mint_token(settings, people.admin)
        # when
        invited = ok(await client(INVITE_USER, {"input": invite}, as_=admin), "inviteUser")["user"]
        twice = await client(INVITE_USER, {"input": {**invite, "email": f"second-{people.tag}@idp.test"}}, as_=admin)
        taken = await client(UPDATE_USER, {"input": {"userId": _user_id(people.rep), "externalId": f" {subject} "}},
                             as_=admin)
        signed_in = await me(client, rsa_key.sign(claims(sub=subject)))
        cleared = ok(await client(UPDATE_USER, {"input": {"userId": invited["id"], "externalId": None}}, as_=admin),
                     "updateUser")["user"]
        after = await refusal(client, rsa_key.sign(claims(sub=subject, iat=datetime.now(UTC) - timedelta(seconds=1))))
    # then
    assert invited["externalId"] == subject
    assert twice["data"]["inviteUser"]["userErrors"] == [{"field": ["externalId"], "code": "DUPLICATE"}]
    assert taken["data"]["updateUser"]["userErrors"] == [{"field": ["externalId"], "code": "DUPLICATE"}]
    assert signed_in == invite["email"]
    assert cleared["externalId"] is None
    assert after == auth.UNMAPPED_USER


async def test_queries_mutations_and_a_subscription_work_with_a_provider_token(app, settings, jwks, ec_key, people):
    # given a rep signed in through the provider (the session app's relay sits out: with the in-memory
    # broker only the relay of the app holding the socket reaches it)
    jwks.publish(ec_key)
    token = ec_key.sign(claims(sub=f"sub-{uuid.uuid4()}", email=people.rep.email, email_verified=True))
    async with shared_relay_paused(app), tandem(settings, jwks) as (app, client):
        opportunity = await new_opportunity(client, as_=token)
        first = await client(MY_CUSTOMERS, as_=token)
        second = await client(MY_CUSTOMERS, as_=token)  # the kept statement's path
        async with connect(app, token) as ws:
            # when the rep follows the opportunity's timeline and logs a call on it
            await subscribe_live(app, ws, "1", TIMELINE, {"recordId": opportunity["id"]})
            await log_call(client, opportunity, "called through the provider", as_=token)
            await app.state.relay.drain()
            [event] = await ws.events("1", 1, "recordTimeline")
    # then
    assert "errors" not in first and first == second
    assert first["data"]["customers"]["totalCount"] == 1
    assert (event["summary"], event["actor"]["email"]) == ("Call: called through the provider", people.rep.email)


async def test_a_websocket_with_a_provider_token_of_nobody_is_closed_forbidden(settings, jwks, ec_key, people):
    # given
    jwks.publish(ec_key)
    token = ec_key.sign(claims(sub=f"nobody-{uuid.uuid4()}"))
    async with tandem(settings, jwks) as (app, _client), connect(app) as ws:
        # when
        await ws.send({"type": "connection_init", "payload": bearer(token)})
        # then
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive()
    assert closed.value.code == 4403


# ---- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [
    {"jwt_jwks_algorithms": ["HS256"]}, {"jwt_jwks_algorithms": ["none"]}, {"jwt_jwks_algorithms": []},
    {"jwt_jwks_url": "https://idp.example.test/jwks"},
    {"jwt_jwks_url": "https://idp.example.test/jwks", "jwt_jwks_issuer": ISSUER},
], ids=["a symmetric algorithm", "none", "no algorithm", "no issuer nor audience", "no audience"])
def test_settings_refuse_an_unsafe_provider_configuration(overrides):
    # when, then
    with pytest.raises(ValueError, match="TANDEM_JWT_JWKS"):
        Settings(**overrides)


def test_readme_gives_every_refusal_reason():
    # given every reason a token is refused for
    reasons = [auth.INVALID, auth.EXPIRED, auth.WRONG_ISSUER, auth.WRONG_AUDIENCE, auth.KEYS_UNAVAILABLE,
               auth.UNKNOWN_KEY, auth.NO_USER_CLAIM, auth.BAD_ORG, auth.UNMAPPED_USER, auth.AMBIGUOUS_USER,
               auth.UNKNOWN_USER]
    # then the README's identity-provider table quotes each
    section = README.read_text(encoding="utf-8").split("### Identity providers", 1)[1].split("\n### ", 1)[0]
    assert [r for r in reasons if f"`{r}`" not in section] == []


# ---- helpers ------------------------------------------------------------------------------------------------------


def _user_id(user: User) -> str:
    return to_global_id("User", user.id)


async def _set_active(db: Any, user: User, active: bool) -> None:
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user.id).values(active=active))
