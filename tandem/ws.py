"""GraphQL subscriptions over the websocket: graphql-transport-ws only (the legacy graphql-ws
subprotocol is not offered), authenticated in connection_init, capped per connection and per user,
closed with 4403 when the token expires.

Every operation runs under the connection's guard (fields the actor may not read resolve to null and
are reported FORBIDDEN_FIELD, as over HTTP: the same function builds the answer). A query or mutation
gets a context of its own, with its own session and loaders, closed when it ends, as an HTTP request
does. Subscriptions are multiplexed (realtime/multiplex.py): each operation gets an outlet that
executes its selection on an event's root value, serializes it once for every subscriber of the same
group, and sends the same payload bytes to each."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from broadcaster import Broadcast
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    get_operation_ast,
    parse,
    visit,
)
from graphql.execution.collect_fields import collect_fields
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from tandem.authz.guard import Guard
from tandem.authz.policy import PolicyStore
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.user import users_by_ids
from tandem.realtime.batches import Batches
from tandem.realtime.channels import SESSIONS_CHANNEL
from tandem.realtime.cursor import FeedCursors
from tandem.realtime.hub import Hub
from tandem.realtime.multiplex import Outlet, Renders, serving
from tandem.realtime.presence import Presence
from tandem.resolvers.context import Context
from tandem.resolvers.guard import current_guard

from .auth import VerifiedTokens, actor_of
from .db import Database
from .graphql import response_body
from .middleware import RAW_SEND, note
from .persisted import PersistedQueries, PersistedQueryError
from .ratelimit import RateLimits
from .settings import Settings


@dataclass
class Realtime:
    broadcast: Broadcast
    cursors: FeedCursors
    hub: Hub
    renders: Renders = field(default_factory=Renders)
    """Multiplexed subscriptions' renderings, shared by every connection of the process."""
    batches: Batches = field(default_factory=Batches)
    """Lookups that connections and subscriptions opening at once share (never cached)."""
    presence: Presence | None = None
    """Who has which record open (``recordPresence``)."""


@dataclass(frozen=True)
class _Plan:
    """What a subscription document's outlets share: the parsed document, and the variables its
    selection reads (the root field's own arguments only choose events, not how one renders)."""

    document: DocumentNode
    selection_variables: tuple[str, ...]


class _SubscriptionVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: Any, *_args: Any) -> None:
        self.names.add(node.name.value)


def _plan(query: str, operation_name: str | None, max_tokens: int) -> _Plan | None:
    """None unless the document's operation is a subscription (queries and mutations over the socket
    run as they do over HTTP). A syntax error or too many tokens raise GraphQLSyntaxError."""
    document = parse(query, max_tokens=max_tokens)
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode) or operation.operation != OperationType.SUBSCRIPTION:
        return None
    used = _SubscriptionVariables()
    for node in operation.directives or ():
        visit(node, used)
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):  # skip its arguments, visit the rest
            for node in selection.directives or ():
                visit(node, used)
            if selection.selection_set is not None:
                visit(selection.selection_set, used)
        else:
            visit(selection, used)
    for definition in document.definitions:
        if definition is not operation:
            visit(definition, used)
    return _Plan(document, tuple(sorted(used.names)))


class _TransportHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws, with each operation run under the connection's guard, in a context of
    its own, given an outlet, and answered as over HTTP."""

    view: WebSocketGraphQL

    async def handle_subscribe(self, message: Any) -> None:
        """A subscribe message may name its document by hash (``extensions.persistedQuery``), and in
        trusted-documents mode only a trusted document runs: a refusal is an ``error`` message for that
        operation, as over HTTP (the socket stays open)."""
        payload = message.get("payload")
        persisted = self.view.persisted
        if (self.connection_acknowledged and persisted.concerns(payload) and isinstance(payload, dict)
                and message.get("id") not in self.operations):
            actor = self.context.actor_or_none
            try:
                resolved = await persisted.resolve(payload, actor.org_id if actor is not None else None)
            except PersistedQueryError as exc:
                await self.send_message({"id": message["id"], "type": "error", "payload": [exc.formatted]})
                return
            if resolved.store is not None:
                await persisted.store(*resolved.store)
            message = {**message, "payload": resolved.data}
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation) -> None:
        context = self.view.operation_context(self.context, operation)
        token = current_guard.set(context.guard)
        try:
            with serving(lambda: self.view.outlet(self, operation)):
                await self._run(operation, context)
        finally:
            current_guard.reset(token)
            await context.close()

    async def _run(self, operation: Operation, context: Context) -> None:
        """The base class's run_operation, with the operation's own context and HTTP's answers. Each
        operation is paid for from the user's and org's budgets first (a subscription its start)."""
        limits = self.view.limits
        actor = context.actor_or_none
        payer = (actor.org_id, actor.user_id) if actor is not None else (None, None)
        charge = await limits.charge(*payer, operation.query, operation.variables, operation.operation_name)
        if not charge.allowed:
            refusal = limits.refusal(charge)
            [error] = refusal["errors"]
            error["extensions"].update(refusal["extensions"])
            await operation.send_operation_message({"id": operation.id, "type": "error", "payload": [error]})
            return
        try:
            results = await self.schema.stream(operation.query, variable_values=operation.variables,
                                               context_value=context, root_value=self.root_value,
                                               operation_name=operation.operation_name)
            async with contextlib.aclosing(results):
                first = True
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        limits.settle(charge, None)  # nothing ran
                        await self._refuse(operation, result.errors or [])
                        return
                    if not isinstance(result, ExecutionResult):
                        await self._reject_incremental_delivery(operation)
                        return
                    cost = None if context.long_lived or not first else limits.settle(charge, result.data)
                    body = response_body(result.data, result.errors, context.forbidden_fields,
                                         debug=self.view.settings.debug, executed=True, extensions=cost)
                    context.forbidden_fields.clear()
                    await operation.send_operation_message({"id": operation.id, "type": "next", "payload": body})
                    first = False
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except GraphQLError as error:  # raised while parsing (a syntax error, several operations unnamed)
            await self._refuse(operation, [error])
        except Exception as error:  # pragma: no cover - as the base class: log, complete, re-raise
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def _refuse(self, operation: Operation, errors: list[GraphQLError]) -> None:
        """An operation that cannot run gets an ``error`` message with the errors HTTP would answer
        (a syntax error or an unknown operation name does not close the socket and every other
        subscription on it, as the base class would)."""
        body = response_body(None, errors, {}, debug=self.view.settings.debug)
        await operation.send_operation_message({"id": operation.id, "type": "error", "payload": body["errors"]})


class WebSocketGraphQL(GraphQL):
    graphql_transport_ws_handler_class = _TransportHandler

    def __init__(self, schema: Any, *, db: Database, settings: Settings, policies: PolicyStore,
                 realtime: Realtime, on_policy_change: Callable[[int], Awaitable[None]] | None = None,
                 tokens: VerifiedTokens | None = None, persisted: PersistedQueries | None = None,
                 limits: RateLimits | None = None) -> None:
        super().__init__(
            schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
        )
        self.db = db
        self.settings = settings
        self.tokens = tokens or VerifiedTokens(settings)
        self.policies = policies
        self.realtime = realtime
        self.on_policy_change = on_policy_change
        self.limits = limits or RateLimits(settings)
        self.persisted = persisted or PersistedQueries(settings, db, schema)
        self.per_user: Counter[int] = Counter()
        self._owners: dict[int, tuple[int, asyncio.TimerHandle | None]] = {}
        self._sockets: dict[tuple[int, int], dict[int, Any]] = {}
        """Open websockets by (org, user), so a deactivated user's end at once (``follow_sessions``)."""
        self._plans: OrderedDict[tuple[str, str | None], _Plan | None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            owner = self._owners.pop(id(scope), None)
            if owner is not None:
                user_id, timer = owner
                self.per_user[user_id] -= 1
                if timer is not None:
                    timer.cancel()
                for key, sockets in list(self._sockets.items()):
                    if sockets.pop(id(scope), None) is not None and not sockets:
                        del self._sockets[key]

    async def get_context(self, request: Any, response: Any = None) -> Context:
        return Context(db=self.db, settings=self.settings, request=request, policies=self.policies,
                       on_policy_change=self.on_policy_change, realtime=self.realtime, long_lived=True)

    def operation_context(self, connection: Context, operation: Operation) -> Context:
        """A subscription's context holds no session (it lives as long as the subscription); a query's
        or mutation's has its own session and loaders, as over HTTP."""
        try:
            subscription = self._plan(operation.query, operation.operation_name) is not None
        except (GraphQLError, RecursionError):  # a syntax error, too many tokens, too deep: the schema reports it
            subscription = False
        return connection.for_operation(long_lived=subscription)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("authorization") or params.get("Authorization")
        claims, _reason = await self.tokens.read(header if isinstance(header, str) else None)
        actor = await self._actor(claims) if claims is not None else None
        if actor is None:
            raise ConnectionRejectionError()
        if self.per_user[actor.user_id] >= self.settings.ws_max_connections_per_user:
            raise ConnectionRejectionError({"code": "TOO_MANY_CONNECTIONS"})
        expires = claims["exp"]
        guard = Guard(await self.policies.for_org(actor.org_id), actor.roles)
        context.actor_or_none = replace(actor, scopes=guard.scopes)
        context.guard = guard
        websocket = context.request
        timer = asyncio.get_running_loop().call_later(
            max(0.0, expires - time.time()), lambda: asyncio.ensure_future(_expire(websocket)))
        self.per_user[actor.user_id] += 1
        self._owners[id(websocket.scope)] = (actor.user_id, timer)
        self._sockets.setdefault((actor.org_id, actor.user_id), {})[id(websocket.scope)] = websocket
        note(websocket.scope, user_id=actor.user_id, org_id=actor.org_id)  # for the connection's access log line
        return None

    async def follow_sessions(self, broadcast: Broadcast) -> None:
        """Close (4403) the open websockets of a user whose sessions must end (deactivated), in whichever
        process they are: every process follows the relay's sessions channel. Runs until cancelled."""
        async with broadcast.subscribe(SESSIONS_CHANNEL) as subscriber:
            async for event in subscriber:  # type: ignore[union-attr]
                if event is None:
                    return
                try:
                    message = json.loads(event.message)
                    key = (int(message["org"]), int(message["recordId"]))
                except (ValueError, TypeError, KeyError):
                    continue  # a reconnect notice or a foreign message
                for websocket in list(self._sockets.get(key, {}).values()):
                    with contextlib.suppress(Exception):
                        await websocket.close(code=4403, reason="User deactivated")

    async def _actor(self, claims: dict[str, Any]) -> Actor | None:
        """As HTTP does: the verified token's user, if it still exists and is active in the
        token's org. The connections opening at once look their users up together, one query per org."""
        org_id, user_id = claims["org"], int(claims["sub"])

        async def load(ids: Sequence[int]) -> dict[int, Any]:
            async with self.db.read(org_id) as session:
                return await users_by_ids(session, org_id, list(ids))

        user = await self.realtime.batches.get(("user", org_id), user_id, load)
        return actor_of(user) if user is not None and user.active else None

    def _plan(self, query: str, operation_name: str | None) -> _Plan | None:
        key = (query, operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = self._plans[key] = _plan(query, operation_name, self.settings.max_tokens)
        if len(self._plans) > PLAN_CACHE:
            self._plans.popitem(last=False)
        return plan

    def outlet(self, handler: _TransportHandler, operation: Operation) -> Outlet | None:
        """The outlet of a subscription operation (asked for by its resolver once the document has
        been validated); None for anything else."""
        plan = self._plan(operation.query, operation.operation_name)
        if plan is None:
            return None
        variables = operation.variables or {}
        key = (operation.query, operation.operation_name,
               json.dumps([variables.get(name) for name in plan.selection_variables], sort_keys=True, default=str))
        prefix = '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":'
        websocket = handler.websocket.ws  # type: ignore[attr-defined]

        async def render(root: Any) -> str:
            return await self._render(handler.context, plan, variables, operation.operation_name, root)

        async def render_many(roots: list[Any]) -> list[str]:
            return await self._render_many(handler.context, plan, variables, operation.operation_name, roots)

        raw_send = websocket.scope.get("state", {}).get(RAW_SEND)

        async def send(payload: str) -> None:
            if operation.completed:
                return
            if raw_send is None or websocket.application_state != WebSocketState.CONNECTED:
                try:
                    await websocket.send_text(prefix + payload + "}")
                except WebSocketDisconnect as exc:
                    raise WebSocketDisconnected from exc
                return
            try:  # as Starlette's WebSocket.send does for a connected socket, minus the wrappers
                await raw_send({"type": "websocket.send", "text": prefix + payload + "}"})
            except OSError as exc:
                websocket.application_state = WebSocketState.DISCONNECTED
                raise WebSocketDisconnected from exc

        return Outlet(key=key, render=render, send=send, render_many=render_many)

    async def _render(self, connection: Context, plan: _Plan, variables: dict[str, Any],
                      operation_name: str | None, root: Any) -> str:
        """Execute the subscription's selection on one event's root value, as the subscriber whose
        connection this is (any of its group renders the same), and serialize the ``next`` payload."""
        context = connection.for_operation(long_lived=True)
        executor = self._executor(context, plan, variables, operation_name)
        if isinstance(executor, list):
            return self._payload(context, None, executor)
        result = executor.build_per_event_executor(root).execute_operation(False)
        if inspect.isawaitable(result):
            result = await result
        return self._payload(context, result.data, list(result.errors or ()))

    async def _render_many(self, connection: Context, plan: _Plan, variables: dict[str, Any],
                           operation_name: str | None, roots: list[Any]) -> list[str]:
        """``_render`` of each root in turn, in one operation context: one session, loaders shared (a
        replayed batch's actors are read once), each root's forbidden fields its own; the operation's
        root fields collected once (graphql-core's ``execute_operation`` collects them afresh for every
        root, which also defeats its cache of sub-selections: twice the work per event)."""
        context = connection.for_operation(long_lived=False)
        try:
            executor = self._executor(context, plan, variables, operation_name)
            if isinstance(executor, list):
                return [self._payload(context, None, executor) for _ in roots]
            root_type = executor.schema.get_root_type(executor.operation.operation)
            fields, defer_usages, _ = collect_fields(executor.schema, executor.fragments, executor.variable_values,
                                                     root_type, executor.operation, executor.hide_suggestions)
            rendered = []
            for root in roots:
                event = executor.build_per_event_executor(root)
                try:
                    data = event.execute_collected_root_fields(root_type, root, fields, False, defer_usages)
                    if inspect.isawaitable(data):
                        data = await data
                except GraphQLError as error:  # as execute_operation: a non-null root field failed
                    event.collected_errors.add(error, None)
                    data = None
                result = event.build_response(data)
                rendered.append(self._payload(context, result.data, list(result.errors or ())))
                context.forbidden_fields.clear()
            return rendered
        finally:
            await context.close()

    def _executor(self, context: Context, plan: _Plan, variables: dict[str, Any],
                  operation_name: str | None) -> Any:
        token = current_guard.set(context.guard)
        try:  # the field guard's executor picks the guard up as it is built
            return self.schema.execution_context_class.build(
                self.schema._schema, plan.document, context_value=context, raw_variable_values=variables,
                operation_name=operation_name, operation_extensions=None)
        finally:
            current_guard.reset(token)

    def _payload(self, context: Context, data: Any, errors: list[GraphQLError]) -> str:
        """A ``next`` message's payload: the data, the errors and the context's forbidden fields."""
        if errors:
            self.schema.process_errors(errors)
        payload = response_body(data, errors, context.forbidden_fields, debug=self.settings.debug, executed=True)
        encoded = self.encode_json(payload)
        return encoded.decode() if isinstance(encoded, bytes) else encoded


PLAN_CACHE = 256
"""Subscription documents whose parse and variable analysis are kept."""


async def _expire(websocket: Any) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=4403, reason="Token expired")
