"""Persisted queries: a request may name its document by SHA-256 instead of sending it.

- **Automatic persisted queries** (Apollo's protocol, on unless ``TANDEM_PERSISTED_QUERIES=false``): a
  request with ``extensions.persistedQuery = {version: 1, sha256Hash}`` and no ``query`` runs the document
  stored under that hash, or is answered ``PERSISTED_QUERY_NOT_FOUND`` (HTTP 200, as Apollo's link expects:
  it then sends the hash with the full text). A request with both is checked (the text's SHA-256 must be
  the hash) and its document stored once it parses and passes validation and the query limits. The store
  is content-addressed, so it is shared safely: Redis under ``TANDEM_REDIS_URL`` (keys with a TTL, at most
  ``TANDEM_PERSISTED_QUERY_MAX_ENTRIES``), memory otherwise; each process keeps the documents it used last
  in front of it.
- **Trusted documents** (``TANDEM_TRUSTED_DOCUMENTS``): only documents of the deployment's manifest and
  those the org's admin registered (``registerTrustedDocument``) run, by hash or by identical text;
  anything else is ``PERSISTED_QUERY_NOT_ALLOWED`` (403). Nothing is stored on first sight.

``documentId`` (the GraphQL-over-HTTP persisted documents form, ``"sha256:<hex>"`` or bare hex) names a
document as ``extensions.persistedQuery`` does.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
    specified_rules,
    validate,
)
from redis.exceptions import RedisError

from tandem.domain.tenancy.trusted_document import SHA256_HEX, digest, trusted_document_text

from .db import Database
from .graphql import document_rules
from .settings import Settings

__all__ = ["ManifestError", "PersistedQueries", "PersistedQueryError", "Resolved", "load_manifest"]

log = logging.getLogger("tandem.persisted")

KEY_PREFIX = "tandem:apq:doc:"
INDEX_KEY = "tandem:apq:index"
"""A sorted set of stored hashes by time of storing: the oldest go first past the entries cap."""

LOCAL_ENTRIES = 1_000
"""Documents each process keeps in front of Redis (the least recently used go first)."""

TRUST_FIELDS = frozenset({"registerTrustedDocument", "trustedDocuments", "__typename"})
"""The root fields of the documents trusted-documents mode always lets through (admin only themselves)."""

TRUSTED_CACHE = 10_000
"""(org, hash) pairs of registered trusted documents each process remembers having found."""


class PersistedQueryError(Exception):
    """A request naming a document that cannot run: its code, HTTP status and message."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    @property
    def formatted(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


def _not_found() -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", 200)


def _not_supported() -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported", 200)


def _invalid(message: str) -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_INVALID", message, 400)


def _not_allowed() -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_NOT_ALLOWED",
                               "Only trusted documents run here: register this document first.", 403)


class ManifestError(ValueError):
    """The trusted documents manifest cannot be read (the server does not start)."""


HEX = re.compile(r"[0-9a-fA-F]{64}")


def load_manifest(path: str) -> dict[str, str]:
    """Document by id, from a manifest file of either common form: a JSON object of id -> document (GraphQL
    Codegen's ``persisted-documents.json``, Relay's ``persisted_queries.json``) or Apollo's
    ``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body", ...}]}``. Each document is
    also known by its own SHA-256, so its identical text runs too."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"TANDEM_TRUSTED_DOCUMENTS: cannot read {path}: {exc}") from None
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        operations = data.get("operations")
        if not isinstance(operations, list) or not all(
                isinstance(o, dict) and isinstance(o.get("id"), str) and isinstance(o.get("body"), str)
                for o in operations):
            raise ManifestError(f"TANDEM_TRUSTED_DOCUMENTS: {path}: `operations` must be a list of "
                                "{id, body} objects")
        entries = [(o["id"], o["body"]) for o in operations]
    elif isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        entries = list(data.items())
    else:
        raise ManifestError(f"TANDEM_TRUSTED_DOCUMENTS: {path} is neither a JSON object of id -> document nor "
                            "an Apollo persisted query manifest")
    documents: dict[str, str] = {}
    for key, body in entries:
        documents[key.lower() if HEX.fullmatch(key) else key] = body
        documents[digest(body)] = body
    return documents


@dataclass(frozen=True)
class Resolved:
    """The request with its document's text in ``query``, and the document to store once it ran (or None)."""

    data: dict[str, Any]
    store: tuple[str, str] | None = None


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, str] = OrderedDict()

    def get(self, key: Any) -> str | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: Any, value: str) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class _RedisStore:
    """Documents by hash in Redis, with a TTL each and at most ``max_entries`` (the oldest stored go first).
    A Redis that does not answer is a miss and a store that did not happen: the client sends the text."""

    def __init__(self, url: str, *, ttl: int, max_entries: int) -> None:
        self.redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl, self.max_entries = ttl, max_entries

    async def get(self, sha256: str) -> str | None:
        try:
            found = await self.redis.getex(KEY_PREFIX + sha256, ex=self.ttl)
        except RedisError:
            log.warning("persisted queries: Redis did not answer a lookup", exc_info=True)
            return None
        return found.decode("utf-8", "surrogatepass") if found is not None else None

    async def put(self, sha256: str, document: str) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(KEY_PREFIX + sha256, document.encode("utf-8", "surrogatepass"), ex=self.ttl)
                pipe.zadd(INDEX_KEY, {sha256: time.time()})
                pipe.zcard(INDEX_KEY)
                count = (await pipe.execute())[-1]
            if count > self.max_entries:
                evicted = await self.redis.zpopmin(INDEX_KEY, count - self.max_entries)
                if evicted:
                    await self.redis.delete(*(KEY_PREFIX + member.decode() for member, _score in evicted))
        except RedisError:
            log.warning("persisted queries: Redis did not store a document", exc_info=True)

    async def close(self) -> None:
        await self.redis.aclose()


class PersistedQueries:
    """Resolves the document a request names (``resolve``), stores what automatic persisted queries
    register (``store``), and in trusted-documents mode refuses any other document."""

    def __init__(self, settings: Settings, db: Database, schema: Any) -> None:
        self.enabled = settings.persisted_queries
        self.max_bytes = settings.persisted_query_max_bytes
        self.max_tokens = settings.max_tokens
        self.db = db
        self.graphql_schema = schema._schema
        self.rules = [*specified_rules, *document_rules(settings)]
        mode = settings.trusted_documents.strip()
        self.trusted = mode.lower() not in ("", "off")
        self.manifest: dict[str, str] = {} if mode.lower() in ("", "off", "on") else load_manifest(mode)
        self.local = _LRU(min(LOCAL_ENTRIES, settings.persisted_query_max_entries) if settings.redis_url
                          else settings.persisted_query_max_entries)
        self.redis = (_RedisStore(settings.redis_url, ttl=settings.persisted_query_ttl_seconds,
                                  max_entries=settings.persisted_query_max_entries)
                      if settings.redis_url and self.enabled and not self.trusted else None)
        self._trusted_found = _LRU(TRUSTED_CACHE)

    def concerns(self, data: Any) -> bool:
        """Whether a request's body is this module's business (the ordinary path pays this test only)."""
        return self.trusted or (isinstance(data, dict) and ("extensions" in data or "documentId" in data))

    async def resolve(self, data: Any, org_id: int | None) -> Resolved:
        """The request with the text of the document it names, for a user of ``org_id`` (None: no valid
        token); raises PersistedQueryError when it names one that cannot run."""
        if not isinstance(data, dict):
            return Resolved(data)  # the endpoint says what is wrong with it
        sha256 = _named_hash(data)
        query = data.get("query")
        text = query if isinstance(query, str) and query.strip() else None
        if self.trusted:
            return await self._trusted(data, sha256, text, org_id)
        if sha256 is None:
            return Resolved(data)
        if not self.enabled:
            raise _not_supported()
        if text is not None:
            if digest(text) != sha256:
                raise PersistedQueryError("PERSISTED_QUERY_HASH_MISMATCH",
                                          "The query's SHA-256 is not `sha256Hash`.", 400)
            known = self.local.get(sha256) is not None
            small = len(text.encode("utf-8", "surrogatepass")) <= self.max_bytes
            return Resolved(data, None if known or not small else (sha256, text))
        document = self.local.get(sha256)
        if document is None and self.redis is not None:
            document = await self.redis.get(sha256)
            if document is not None:
                self.local.put(sha256, document)
        if document is None:
            raise _not_found()
        return Resolved({**data, "query": document})

    async def _trusted(self, data: dict[str, Any], sha256: str | None, text: str | None,
                       org_id: int | None) -> Resolved:
        if text is not None:
            found = digest(text)
            if sha256 is not None and sha256 != found:
                raise PersistedQueryError("PERSISTED_QUERY_HASH_MISMATCH",
                                          "The query's SHA-256 is not `sha256Hash`.", 400)
            if await self._trusted_text(found, org_id) is None and not self._manages_trust(text):
                raise _not_allowed()
            return Resolved(data)
        if sha256 is None:
            raise _not_allowed()
        document = await self._trusted_text(sha256, org_id)
        if document is None:
            raise _not_allowed()
        return Resolved({**data, "query": document})

    async def _trusted_text(self, key: str, org_id: int | None) -> str | None:
        """A trusted document's text by id: the manifest's, or the org's registered one."""
        document = self.manifest.get(key)
        if document is not None or org_id is None or not SHA256_HEX.fullmatch(key):
            return document
        document = self._trusted_found.get((org_id, key))
        if document is None:
            async with self.db.read(org_id) as session:
                document = await trusted_document_text(session, org_id, key)
            if document is not None:
                self._trusted_found.put((org_id, key), document)
        return document

    def _manages_trust(self, document: str) -> bool:
        """Whether the document only registers or lists trusted documents (always allowed, or an admin could
        never trust the first one; the fields themselves are for admins only): one or more queries and
        mutations whose every root selection is one of those fields, with no fragments."""
        try:
            parsed = parse(document, no_location=True, max_tokens=self.max_tokens)
        except (GraphQLError, RecursionError):
            return False
        return all(isinstance(d, OperationDefinitionNode) and d.operation != OperationType.SUBSCRIPTION
                   and all(isinstance(f, FieldNode) and f.name.value in TRUST_FIELDS
                           for f in d.selection_set.selections)
                   for d in parsed.definitions)

    def valid(self, document: str) -> bool:
        """Whether the document parses and passes validation and the query limits (what is stored)."""
        try:
            return not validate(self.graphql_schema, parse(document, max_tokens=self.max_tokens), self.rules)
        except (GraphQLError, RecursionError):
            return False

    async def store(self, sha256: str, document: str) -> None:
        """Store a document a request registered, if it is a valid one."""
        if not self.valid(document):
            return
        self.local.put(sha256, document)
        if self.redis is not None:
            await self.redis.put(sha256, document)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()


def _named_hash(data: dict[str, Any]) -> str | None:
    """The SHA-256 the request names its document by (lowercase hex), or None; PERSISTED_QUERY_INVALID when
    ``extensions`` or ``documentId`` is malformed."""
    extensions = data.get("extensions")
    document_id = data.get("documentId")
    if extensions is not None and not isinstance(extensions, dict):
        raise _invalid("`extensions` must be a JSON object.")
    persisted = extensions.get("persistedQuery") if extensions else None
    if persisted is None:
        if document_id is None:
            return None
        if not isinstance(document_id, str) or not HEX.fullmatch(document_id.removeprefix("sha256:")):
            raise _invalid("`documentId` must be \"sha256:\" and the document's SHA-256 in hex.")
        return document_id.removeprefix("sha256:").lower()
    if not isinstance(persisted, dict):
        raise _invalid("`extensions.persistedQuery` must be a JSON object.")
    version = persisted.get("version")
    if type(version) is not int or version != 1:
        raise _invalid("`extensions.persistedQuery.version` must be 1.")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not HEX.fullmatch(sha256):
        raise _invalid("`extensions.persistedQuery.sha256Hash` must be a SHA-256 in hex (64 digits).")
    return sha256.lower()
