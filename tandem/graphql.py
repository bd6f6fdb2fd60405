"""The GraphQL schema with its limits, and the one boundary where errors become client errors."""

from __future__ import annotations

import logging
import re
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from domain.shared.errors import DomainError
from resolvers import Mutation, Query, Subscription
from resolvers.guard import FieldGuardExecution
from schema.contact import Contact
from schema.customer import Customer
from schema.interaction import Interaction
from schema.lead import Lead
from schema.opportunity import Opportunity
from schema.scalars import SCALAR_MAP
from schema.user import Org, Team, User

from .limits import limits_rule
from .settings import Settings

log = logging.getLogger("tandem.graphql")

SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
TOKEN_LIMIT = re.compile(r"Document contains more than \d+ tokens")


class TandemSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            if error_code(error) == "INTERNAL":
                log.error("unexpected error", exc_info=error.original_error or error)


def build_schema(settings: Settings, *, field_guard: bool = True) -> strawberry.Schema:
    rule = limits_rule(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
                       max_cost=settings.max_query_cost)
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        ParserCache,
        lambda: AddValidationRules([rule]),
        ValidationCache,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return TandemSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        types=[Customer, Contact, Interaction, Lead, Opportunity, User, Team, Org],
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
