"""Trusted documents: the GraphQL documents an org's admin registered for trusted-documents mode."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.tenancy.trusted_document import TrustedDocument as TrustedDocumentModel

from .errors import UserError


@strawberry.type(description="A GraphQL document registered for your org: with TANDEM_TRUSTED_DOCUMENTS on, your "
                             "users' requests run only documents of the deployment's manifest and these (by "
                             "`extensions.persistedQuery.sha256Hash` or by identical text).")
class TrustedDocument:
    sha256: str = strawberry.field(description="SHA-256 of the document's UTF-8 text, lowercase hex: the hash a "
                                               "client sends instead of the text.")
    name: str | None
    document: str
    created_at: datetime

    @classmethod
    def from_model(cls, m: TrustedDocumentModel) -> TrustedDocument:
        return cls(sha256=m.sha256, name=m.name, document=m.document, created_at=m.created_at)


@strawberry.input(description="A document to trust for your org (admin only): registering the same text again "
                              "returns the first registration.")
class RegisterTrustedDocumentInput:
    document: str = strawberry.field(description="The exact text clients send (its SHA-256 is computed as is).")
    name: str | None = strawberry.field(default=None, description="What it is, e.g. the operation's name.")


@strawberry.type
class TrustedDocumentPayload:
    trusted_document: TrustedDocument | None
    user_errors: list[UserError]
