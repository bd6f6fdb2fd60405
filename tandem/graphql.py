"""The GraphQL schema with its limits, and the one boundary where errors become client errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    MaxIntrospectionDepthRule,
    OperationDefinitionNode,
    ValidationRule,
)
from sqlalchemy.exc import DBAPIError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from tandem.domain.shared.errors import DomainError
from tandem.resolvers import Mutation, Query, Subscription
from tandem.resolvers.context import Unauthenticated
from tandem.resolvers.guard import FieldGuardExecution
from tandem.schema.competitor import Competitor
from tandem.schema.contact import Contact
from tandem.schema.customer import Customer
from tandem.schema.interaction import Interaction
from tandem.schema.lead import Lead
from tandem.schema.lost_reason import LostReason
from tandem.schema.opportunity import Opportunity
from tandem.schema.pipeline import Pipeline
from tandem.schema.scalars import SCALAR_MAP
from tandem.schema.user import Org, Team, User

from .limits import INTROSPECTION_ROOTS, limits_rule
from .settings import Settings

log = logging.getLogger("tandem.graphql")

SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
TOKEN_LIMIT = re.compile(r"Document contains more than \d+ tokens")
MAYBE_INTROSPECTION = re.compile(r"__(?:schema|type)\b")


class TandemSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            if error_code(error) == "INTERNAL":
                log.error("unexpected error", exc_info=error.original_error or error)


def introspects(document: DocumentNode) -> bool:
    """Whether any operation or fragment of the document asks for ``__schema`` or ``__type``."""
    selection_sets = [d.selection_set for d in document.definitions if hasattr(d, "selection_set")]
    while selection_sets:
        for selection in selection_sets.pop().selections:
            if isinstance(selection, FieldNode) and selection.name.value in INTROSPECTION_ROOTS:
                return True
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set is not None:
                selection_sets.append(selection.selection_set)
    return False


class IntrospectionNeedsToken(SchemaExtension):
    """Introspection without a valid token is UNAUTHENTICATED, before the document is validated
    (``__typename`` alone is not introspection)."""

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if (getattr(context, "actor_or_none", None) is None and execution.graphql_document is not None
                and MAYBE_INTROSPECTION.search(execution.query or "")
                and introspects(execution.graphql_document)):
            raise Unauthenticated(getattr(context, "auth_error", "A valid bearer token is required."))
        yield


class AmbiguousOperation(GraphQLError):
    def __init__(self) -> None:
        super().__init__("The document holds several operations: name the one to run with `operationName`.",
                         extensions={"code": "BAD_REQUEST"})


class OneOperation(SchemaExtension):
    """A document with several operations and no ``operationName`` is a bad request (the spec's
    GetOperation), not a request for the first one."""

    def on_parse(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        document = execution.graphql_document
        # ``operation_name`` falls back to the first operation's; this is the request's own
        if document is None or execution._provided_operation_name is not None:
            return
        if sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1:
            raise AmbiguousOperation()


def document_rules(settings: Settings) -> list[type[ValidationRule]]:
    """The validation rules every document passes besides the spec's: the query limits, introspection depth."""
    return [limits_rule(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
                        max_cost=settings.max_query_cost), MaxIntrospectionDepthRule]


def build_schema(settings: Settings, *, field_guard: bool = True) -> strawberry.Schema:
    rules = document_rules(settings)
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        ParserCache,
        OneOperation,
        IntrospectionNeedsToken,
        lambda: AddValidationRules(rules),
        ValidationCache,
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    return TandemSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        types=[Customer, Contact, Interaction, Lead, Opportunity, User, Team, Org, Pipeline, LostReason, Competitor],
        extensions=extensions, config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=FieldGuardExecution if field_guard else None,
    )


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, DomainError):
        return original.code
    if isinstance(original, GraphQLError):
        return error_code(original)
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    if isinstance(original, DBAPIError) and "statement timeout" in str(original).lower():
        return "TIMEOUT"
    if original is None or not error.path:
        if TOKEN_LIMIT.search(error.message):
            return "TOO_MANY_TOKENS"
        return "BAD_USER_INPUT"  # syntax, validation and variable coercion errors
    return "INTERNAL"


def format_error(error: GraphQLError, *, debug: bool) -> dict[str, Any]:
    code = error_code(error)
    message = error.message
    if code == "INTERNAL" and not debug:
        message = "Internal server error."
    elif code == "TIMEOUT":
        message = "The request took too long and was cancelled."
    elif code == "NOT_FOUND" and isinstance(error.original_error, DomainError):
        message = error.original_error.message
    if not debug:
        message = SUGGESTION.sub("", message)
    out: dict[str, Any] = {"message": message, "extensions": {"code": code}}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    return out


def response_body(data: Any, errors: Sequence[GraphQLError] | None, forbidden_fields: Mapping[str, list[Any]], *,
                  debug: bool, executed: bool = False, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    """One operation's answer, the same over HTTP and the websocket: its errors formatted here, one
    FORBIDDEN_FIELD per denied field at the first path it was asked at, and ``data`` unless the
    operation never ran (a request error; ``executed``: it did, as every ``next`` message says); and the
    response's ``extensions`` (its cost), if any."""
    formatted = [format_error(e, debug=debug) for e in errors or ()]
    formatted += [{"message": f"Your role may not read {name}.", "path": path,
                   "extensions": {"code": "FORBIDDEN_FIELD", "field": name}}
                  for name, path in forbidden_fields.items()]
    body: dict[str, Any] = {}
    if formatted:
        body["errors"] = formatted
    if executed or data is not None or not formatted or any(e.path for e in errors or ()):
        body["data"] = data
    if extensions:
        body["extensions"] = extensions
    return body


def is_bad_request(body: dict[str, Any]) -> bool:
    """An answer to a request that could not run as sent (HTTP 400)."""
    return "data" not in body and any(e["extensions"]["code"] == "BAD_REQUEST" for e in body["errors"])
