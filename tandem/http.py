"""POST/GET /graphql: JSON in, JSON out, every client mistake a 4xx with a JSON error."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from tandem.authz.guard import Guard, Unrestricted
from tandem.authz.policy import PolicyStore
from tandem.domain.shared.actor import Actor
from tandem.resolvers.compiled import STALE_IDENTITY, CompiledReads
from tandem.resolvers.context import Context
from tandem.resolvers.guard import current_guard

from . import graphiql
from .auth import UNKNOWN_USER, VerifiedTokens, actor_of_claims
from .db import Database
from .graphql import is_bad_request, response_body
from .metrics import operation_of
from .middleware import note
from .persisted import PersistedQueries, PersistedQueryError
from .ratelimit import Charge, RateLimits
from .settings import Settings

IDENTITIES = 10_000
"""How many users' last checked identities the endpoint keeps (least recently seen go first)."""

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, from the request's Accept header (GraphQL over HTTP): the
    ``application/graphql-response+json`` a client asks for at least as much as ``application/json``;
    otherwise ``application/json`` (also with no Accept header, ``*/*`` or ``application/*``); None when
    the client accepts neither (406)."""
    if accept is None or not accept.strip():
        return JSON
    best: dict[str, float] = {}
    for part in accept.split(",")[:32]:
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        for offered in (GRAPHQL_RESPONSE, JSON):
            if media == offered or (offered == JSON and media in ("*/*", "application/*")):
                best[offered] = max(best.get(offered, 0.0), quality)
    wanted = {m: q for m, q in best.items() if q > 0}
    if not wanted:
        return None
    if wanted.get(GRAPHQL_RESPONSE, 0.0) >= wanted.get(JSON, 0.0):
        return GRAPHQL_RESPONSE
    return JSON


QUERY_ONLY = (OperationType.QUERY,)
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


class GraphQLJSONResponse(JSONResponse):
    """UTF-8 JSON, compact (orjson writes the same bytes as Starlette's ``json.dumps``, faster); an answer
    that repeats an unpaired surrogate a client sent (an error message quoting a bad enum value), or holds
    an integer orjson does not take, is written by ``json`` (with ``\\u`` escapes for the surrogate)."""

    def render(self, content: Any) -> bytes:
        self.error_codes = _error_codes(content)
        try:
            return orjson.dumps(content)
        except TypeError:
            pass
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, separators=(",", ":")).encode("ascii")


def _error_codes(content: Any) -> list[Any]:
    """The ``extensions.code`` of an answer's errors (of every answer of a batch)."""
    answers = content if isinstance(content, list) else (content,)
    return [error.get("extensions", {}).get("code") for answer in answers if isinstance(answer, dict)
            for error in answer.get("errors") or () if isinstance(error, dict)]


def _noted(request: Request, response: Response) -> Response:
    """A GraphQL request answered: its error codes (and that it was one, named or not) for the access log
    and the metrics (tandem/middleware.py)."""
    state = request.scope.setdefault("state", {})
    state.setdefault("operation", None)
    state["error_codes"] = getattr(response, "error_codes", None) or None
    return response


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return GraphQLJSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status,
                        headers=headers)


class BadRequest(Exception):
    def __init__(self, message: str, code: str = "BAD_REQUEST", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def _names_document(params: Any) -> bool:
    """Whether a GET request's parameters name a document to run (its text, or a persisted query's hash)."""
    return "query" in params or "extensions" in params or "documentId" in params


def _operation(data: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object with a `query` string.")
    query = data.get("query")
    variables = data.get("variables")
    operation_name = data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("`query` must be a non-empty string.")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("`variables` must be a JSON object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("`operationName` must be a string.")
    return query, variables, operation_name


class GraphQLEndpoint:
    def __init__(self, schema: strawberry.Schema, db: Database, settings: Settings, policies: PolicyStore,
                 on_policy_change: Callable[[int], Awaitable[None]], realtime: Any,
                 *, authorization: bool = True, tokens: VerifiedTokens | None = None,
                 persisted: PersistedQueries | None = None,
                 limits: RateLimits | None = None) -> None:
        self.schema = schema
        self.db = db
        self.settings = settings
        self.policies = policies
        self.on_policy_change = on_policy_change
        self.authorization = authorization
        self.realtime = realtime
        self.tokens = tokens or VerifiedTokens(settings)
        self._identities: OrderedDict[tuple[int, int], Actor] = OrderedDict()
        """(org, user) -> the actor as last checked against the database (see ``_known``)."""
        self.compiled = CompiledReads(schema, db.engine, db.fetch_one, max_tokens=settings.max_tokens)
        self.limits = limits or RateLimits(settings)
        self.persisted = persisted or PersistedQueries(settings, db, schema)

    async def handle(self, request: Request) -> Response:
        """One request, answered in the media type it accepts: with ``application/graphql-response+json``
        a request that could not run (no ``data``) is a 400, and errors carry that type too; with
        ``application/json`` as before."""
        if request.method == "GET" and not _names_document(request.query_params):
            return await self._handle(request)  # GraphiQL for a browser, or a hint
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return _noted(request, _error(406, "NOT_ACCEPTABLE",
                          f"Accept {GRAPHQL_RESPONSE} or {JSON}: this endpoint answers in nothing else."))
        response = await self._handle(request)
        if media == GRAPHQL_RESPONSE:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
            if response.status_code == 200 and getattr(response, "request_error", False):
                response.status_code = 400
        return _noted(request, response)

    async def _handle(self, request: Request) -> Response:
        if request.method == "GET":
            if not _names_document(request.query_params):
                if "text/html" in request.headers.get("accept", ""):
                    return graphiql.page()
                return _error(400, "BAD_REQUEST", "Send a query: POST a JSON body, or GET ?query=...")
            try:
                variables = json.loads(request.query_params.get("variables") or "null")
            except (ValueError, RecursionError):
                return _error(400, "BAD_REQUEST", "`variables` is not valid JSON.")
            data = {"query": request.query_params.get("query"), "variables": variables,
                    "operationName": request.query_params.get("operationName")}
            if "extensions" in request.query_params or "documentId" in request.query_params:
                try:  # a persisted query's hash (Apollo's useGETForHashedQueries)
                    data["extensions"] = json.loads(request.query_params.get("extensions") or "null")
                except (ValueError, RecursionError):
                    return _error(400, "PERSISTED_QUERY_INVALID", "`extensions` is not valid JSON.")
                data["documentId"] = request.query_params.get("documentId")
            return await self._single(request, data, QUERY_ONLY)
        if request.method != "POST":
            return _error(405, "METHOD_NOT_ALLOWED", "Use POST (or GET for queries).", {"Allow": "GET, POST"})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/json", "application/graphql-response+json", ""):
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request as application/json.")
        body = await request.body()
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _error(400, "BAD_REQUEST", "The body is not valid JSON.")
        if isinstance(data, list):
            if not self.settings.max_batch:
                return _error(400, "BATCHING_DISABLED", "Query batching is turned off; send one operation.")
            if not data or len(data) > self.settings.max_batch:
                return _error(400, "BATCH_TOO_LARGE",
                              f"A batch holds 1 to {self.settings.max_batch} operations.")
            results = []
            for item in data:
                response = await self._single(request, item, ALL_OPERATIONS)
                results.append(json.loads(response.body))
            return GraphQLJSONResponse(results)
        return await self._single(request, data, ALL_OPERATIONS)

    def _known(self, claims: dict[str, Any]) -> tuple[Actor, Guard] | None:
        """The actor the claims named when last checked and its guard, when both are in memory (the
        compiled path's statements check the user again themselves)."""
        key = (claims["org"], int(claims["sub"]))
        actor = self._identities.get(key)
        if actor is not None and not self.authorization:
            self._identities.move_to_end(key)
            return actor, Unrestricted()
        policy = self.policies.fresh(key[0]) if actor is not None else None
        if actor is None or policy is None:
            return None
        self._identities.move_to_end(key)
        guard = Guard(policy, actor.roles)
        return replace(actor, scopes=guard.scopes), guard

    def _remember_identity(self, actor: Actor) -> None:
        self._identities[(actor.org_id, actor.user_id)] = actor
        self._identities.move_to_end((actor.org_id, actor.user_id))
        if len(self._identities) > IDENTITIES:
            self._identities.popitem(last=False)

    async def _authenticate(self, claims: dict[str, Any] | None,
                            reason: str) -> tuple[Actor | None, str, Guard | None, AsyncSession | None]:
        """The actor of verified claims and its guard, or None and the reason; and the session (bound to the
        actor's org) the user was checked in, in which the request goes on reading (one transaction, not
        two)."""
        if claims is None:
            return None, reason, None, None
        session = self.db.session(claims["org"])
        try:
            actor = await actor_of_claims(session, claims)
            if actor is None:
                await session.close()
                self._identities.pop((claims["org"], int(claims["sub"])), None)
                return None, UNKNOWN_USER, None, None
            self._remember_identity(actor)
            if not self.authorization:
                return actor, "", Unrestricted(), session
            policy = self.policies.fresh(actor.org_id)
            if policy is None:
                # the policy store reads with a connection of its own: hand this one back first, or 32
                # requests holding the pool's 20 connections would all wait on the pool
                await session.rollback()
                policy = await self.policies.for_org(actor.org_id)
        except BaseException:
            await session.close()
            raise
        guard = Guard(policy, actor.roles)
        return replace(actor, scopes=guard.scopes), "", guard, session

    async def _single(self, request: Request, data: Any, allowed: tuple[OperationType, ...]) -> Response:
        if not self.persisted.concerns(data):
            return await self._run(request, data, allowed)
        claims, _reason = await self.tokens.read(request.headers.get("authorization"))
        try:
            resolved = await self.persisted.resolve(data, claims["org"] if claims is not None else None)
        except PersistedQueryError as exc:
            return _error(exc.status, exc.code, exc.message)
        response = await self._run(request, resolved.data, allowed)
        if resolved.store is not None and response.status_code == 200 and not getattr(response, "request_error",
                                                                                       False):
            await self.persisted.store(*resolved.store)
        return response

    async def _run(self, request: Request, data: Any, allowed: tuple[OperationType, ...]) -> Response:
        try:
            query, variables, operation_name = _operation(data)
        except BadRequest as exc:
            return _error(exc.status, exc.code, exc.message)
        claims, reason = await self.tokens.read(request.headers.get("authorization"))
        note(request.scope, operation=operation_of(query, operation_name),
             user_id=None if claims is None else claims["sub"], org_id=None if claims is None else claims["org"])
        # priced, and paid for from the user's and org's budgets, before anything runs (tandem/ratelimit.py)
        payer = (claims["org"], int(claims["sub"])) if claims is not None else (None, None)
        charge = await self.limits.charge(*payer, query, variables, operation_name)
        note(request.scope, cost=charge.logged or None)  # for the access log line (completed when settled)
        if not charge.allowed:
            return GraphQLJSONResponse(self.limits.refusal(charge), status_code=429,
                                       headers={"Retry-After": str(charge.retry_after)})
        known = self._known(claims) if claims is not None and OperationType.QUERY in allowed else None
        if known is not None:
            answer = await self.compiled.answer_known(*known, query, variables, operation_name)
            if answer is STALE_IDENTITY:
                self._identities.pop((claims["org"], int(claims["sub"])), None)
            elif answer is not None:
                data, forbidden = answer
                return self._priced(GraphQLJSONResponse(response_body(data, None, forbidden,
                                                                      debug=self.settings.debug)), charge)
        actor, reason, guard, session = await self._authenticate(claims, reason)
        ctx = Context(db=self.db, settings=self.settings, actor_or_none=actor, auth_error=reason, request=request,
                      guard=guard, policies=self.policies, on_policy_change=self.on_policy_change,
                      realtime=self.realtime, _session=session)
        if actor is not None and OperationType.QUERY in allowed:
            compiled = await self.compiled.answer(ctx, query, variables, operation_name)
            if compiled is not None:
                await ctx.close()
                data, forbidden = compiled
                return self._priced(GraphQLJSONResponse(response_body(data, None, forbidden,
                                                                      debug=self.settings.debug)), charge)
        if session is not None and not self.compiled.is_query(query, operation_name):
            # a mutation's reads must see what it wrote: they begin a transaction of their own
            await session.rollback()
        token = current_guard.set(guard)
        try:
            result = await self.schema.execute(query, variable_values=variables, context_value=ctx,
                                               operation_name=operation_name, allowed_operation_types=allowed)
        except InvalidOperationTypeError:
            if request.method == "GET":
                return self._priced(_error(405, "METHOD_NOT_ALLOWED", "Only queries may be sent over GET; send "
                                           "mutations with POST.", {"Allow": "POST"}), charge)
            return self._priced(_error(400, "OPERATION_NOT_ALLOWED",
                                       "Subscriptions are served over the websocket (graphql-transport-ws)."), charge)
        except CannotGetOperationTypeError:
            return self._priced(_error(400, "BAD_USER_INPUT",
                                       "Name the operation to run with `operationName` (one that exists)."), charge)
        except MissingQueryError:
            return self._priced(_error(400, "BAD_REQUEST", "`query` must be a non-empty string."), charge)
        finally:
            current_guard.reset(token)
            await ctx.close()
        if result.data is not None:
            self.compiled.remember_valid(query)
        body = response_body(result.data, result.errors, ctx.forbidden_fields, debug=self.settings.debug)
        response = self._priced(GraphQLJSONResponse(body, status_code=400 if is_bad_request(body) else 200), charge)
        response.request_error = "data" not in body  # type: ignore[attr-defined]
        return response

    def _priced(self, response: Response, charge: Charge) -> Response:
        """The answer with its ``extensions.cost``, counted from the JSON it holds and written after it
        (the answer is not encoded twice); the budgets get back what it did not use."""
        body = bytes(response.body)
        start = body.find(b'"data":')
        extensions = self.limits.settle(charge, body if start >= 0 else None, start)
        if extensions and body.endswith(b"}"):
            response.body = body[:-1] + b',"extensions":' + orjson.dumps(extensions) + b"}"
            response.headers["content-length"] = str(len(response.body))
        return response
