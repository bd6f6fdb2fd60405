"""Trusted documents: the admin registers the GraphQL documents their org's clients may run in
trusted-documents mode, and lists them."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError, parse, validate

from tandem.domain.shared.errors import FieldError, SharedErrorCode
from tandem.domain.shared.pagination import PageRequest
from tandem.domain.tenancy import trusted_document as service
from tandem.schema.errors import UserError
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.trusted_document import RegisterTrustedDocumentInput, TrustedDocument, TrustedDocumentPayload

from .mutation import run
from .writes import acts


def _payload(m=None, user_errors=None) -> TrustedDocumentPayload:
    return TrustedDocumentPayload(trusted_document=TrustedDocument.from_model(m) if m else None,
                                  user_errors=user_errors or [])


def _problem(info: strawberry.Info, document: str) -> str | None:
    """Why the document is no valid GraphQL document of this schema (its first error), or None."""
    if len(document) > service.MAX_DOCUMENT_CHARS or not document.strip():
        return None  # the service says so
    try:
        errors = validate(info.schema._schema, parse(document, max_tokens=info.context.settings.max_tokens))
    except (GraphQLError, RecursionError) as exc:
        return str(getattr(exc, "message", "the document nests too deeply"))
    return errors[0].message if errors else None


@strawberry.type
class TrustedDocumentQuery:
    @strawberry.field(description="Your org's trusted documents, oldest first (admin only).")
    async def trusted_documents(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                                last: int | None = None, before: str | None = None) -> Connection[TrustedDocument]:
        ctx = info.context
        ctx.authz.require("Policy", "manage")
        req = PageRequest(first=first, after=after, last=last, before=before)
        async with ctx.read() as session:
            page = await service.list_trusted_documents(session, ctx.actor.org_id, req, with_total=wants_total(info))
        return Connection.from_page(page, TrustedDocument.from_model)


@strawberry.type
class TrustedDocumentMutation:
    @acts("Policy", "manage")
    @strawberry.mutation(description="Trust a GraphQL document for your org (admin only); it must be valid "
                                     "against the schema.")
    async def register_trusted_document(self, info: strawberry.Info,
                                        input: RegisterTrustedDocumentInput) -> TrustedDocumentPayload:
        actor = info.context.actor
        problem = _problem(info, input.document)
        if problem is not None:
            return _payload(user_errors=[UserError.from_domain(FieldError(("document",), SharedErrorCode.INVALID,
                                                                          problem))])
        return await run(info, lambda s: service.register_trusted_document(s, actor, input.document, input.name),
                         _payload)
