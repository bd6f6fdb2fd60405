"""Every ``TANDEM_*`` setting, typed, in one place."""

from __future__ import annotations

from functools import lru_cache

from jwt.algorithms import requires_cryptography
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "tandem-dev-secret-change-me-in-production-0123456789"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", env_file=None, extra="ignore")

    database_url: str = Field(
        "sqlite+aiosqlite:///./tandem.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    redis_url: str | None = Field(
        None, description="redis://host:6379/0 for pub/sub across processes; unset = in-memory broker"
    )
    debug: bool = Field(False, description="Unmasked errors, field suggestions; never in production")
    demo: bool = Field(False, description="Set by `tandem serve --demo`: a local try-out (allows introspection)")
    log_level: str = Field("INFO", description="Python log level for the JSON request log")

    jwt_secret: str = Field(DEV_JWT_SECRET, description="HS256 signing secret (dev default)")
    jwt_algorithm: str = Field("HS256", description="HS256, or RS256 with jwt_public_key")
    jwt_public_key: str | None = Field(None, description="PEM public key to verify RS256 tokens")
    jwt_private_key: str | None = Field(
        None, description="PEM private key; only for `tandem token` to mint RS256 dev tokens"
    )
    jwt_issuer: str = Field("tandem", description="Expected `iss` claim")
    jwt_audience: str = Field("tandem-api", description="Expected `aud` claim")
    token_ttl_seconds: int = Field(8 * 3600, description="Lifetime of tokens minted by `tandem token`")

    jwt_jwks_url: str | None = Field(
        None, description="Your identity provider's JWKS URL: its tokens are verified with the keys published there "
                          "and their user is mapped to a Tandem user by external id or verified e-mail"
    )
    jwt_jwks_issuer: str | None = Field(None, description="Expected `iss` of identity-provider tokens (required "
                                                          "with jwt_jwks_url)")
    jwt_jwks_audience: str | None = Field(None, description="Expected `aud` of identity-provider tokens (required "
                                                            "with jwt_jwks_url)")
    jwt_jwks_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description='Algorithms accepted from the identity provider, JSON list of asymmetric ones: RS256, RS384, '
                    'RS512, PS256, PS384, PS512, ES256, ES256K, ES384, ES512, EdDSA',
    )
    jwt_jwks_cache_seconds: float = Field(300, description="How long the fetched JWKS is used before it is fetched "
                                                           "again")
    jwt_jwks_refresh_seconds: float = Field(
        30, description="Least time between two fetches of the JWKS prompted by an unknown `kid` (key rotation)"
    )
    jwt_jwks_timeout_seconds: float = Field(5, description="Timeout of one JWKS fetch")
    jwt_user_claim: str = Field("sub", description="Claim of an identity-provider token holding the user's "
                                                   "external id (Entra ID: `oid`)")
    jwt_org_claim: str = Field(
        "org", description="Claim of an identity-provider token naming the Tandem org id; when absent the mapped "
                           "user's org; empty = never read"
    )
    jwt_email_claim: str = Field(
        "email", description="Claim mapping an identity-provider token to a user by e-mail when the verified claim "
                             "is true and no user has its external id; empty = no e-mail mapping"
    )
    jwt_email_verified_claim: str = Field(
        "email_verified", description="Claim that must be true (the JSON boolean) for the e-mail mapping"
    )

    cors_origins: list[str] = Field(
        default_factory=list, description='Allowed browser origins, JSON list: ["https://app.example.com"]'
    )

    max_body_bytes: int = Field(1_000_000, description="Largest accepted request body")
    max_query_depth: int = Field(12, description="Deepest selection, fragments expanded")
    max_aliases: int = Field(30, description="Most aliases per request, fragments expanded")
    max_tokens: int = Field(3_000, description="Most lexical tokens in a document")
    max_query_cost: int = Field(
        50_000, description="Most nodes a request may ask for (fields times first/last), fragments expanded"
    )
    max_batch: int = Field(0, description="Operations per batched HTTP request; 0 = batching off")
    rate_user_bucket: int = Field(
        10_000, ge=0, description="Most query cost a user may spend at once (their leaky bucket's size); "
                                 "0 = no per-user budget"
    )
    rate_user_restore: float = Field(500, gt=0, description="Query cost restored to a user's bucket per second")
    rate_org_bucket: int = Field(
        50_000, ge=0, description="Most query cost all users of an org may spend at once; 0 = no per-org budget"
    )
    rate_org_restore: float = Field(2_500, gt=0, description="Query cost restored to an org's bucket per second")
    query_cost_extension: bool = Field(
        True, description="Answers carry extensions.cost (requested and actual cost, the budget left); false = only "
                          "RATE_LIMITED refusals do"
    )
    introspection: bool | None = Field(
        None, description="Allow schema introspection (with a valid token); unset = only with debug or demo"
    )
    statement_timeout_ms: int = Field(5_000, description="PostgreSQL statement_timeout for API work")
    db_pool_size: int = Field(10, description="PostgreSQL connection pool size per process")

    policy_poll_seconds: float = Field(
        10.0, description="How often each process re-reads an org's policy version (missed notifications)"
    )

    outbox_retention_days: float = Field(
        30, description="Outbox events older than this are pruned; older cursors expire"
    )
    relay_idle_seconds: float = Field(1.0, description="The relay also polls this often (NOTIFY usually wakes it)")
    scheduler_interval_seconds: float = Field(30, description="How often SLA reminders and escalations are checked")
    ws_init_timeout_seconds: float = Field(10, description="Websocket closed (4408) without connection_init by then")
    ws_max_subscriptions: int = Field(20, description="Subscriptions per websocket connection")
    ws_max_connections_per_user: int = Field(10, description="Websocket connections per user per process")
    ws_max_queue: int = Field(1000, description="Events buffered for a slow subscriber before it is cut off with a gap")
    presence_ttl_seconds: float = Field(
        30, description="A viewer not heard from (touchPresence) for this long has left the record"
    )

    persisted_queries: bool = Field(
        True, description="Apollo's automatic persisted queries: a request may name a document stored before by "
                          "its SHA-256 (extensions.persistedQuery)"
    )
    persisted_query_ttl_seconds: int = Field(
        7 * 24 * 3600, gt=0, description="How long Redis keeps a persisted query unused (each use renews it)"
    )
    persisted_query_max_entries: int = Field(
        10_000, gt=0, description="Most persisted queries stored (in Redis, or in each process's memory without "
                                  "Redis); the oldest go first"
    )
    persisted_query_max_bytes: int = Field(
        64_000, gt=0, description="Largest document stored as a persisted query (a larger one runs, unstored)"
    )
    trusted_documents: str = Field(
        "off", description="off; on = only documents registered with registerTrustedDocument run; or a manifest "
                           "file's path (JSON: id -> document, or Apollo's persisted query manifest): its "
                           "documents and the registered ones run"
    )

    host: str = Field("127.0.0.1", description="`tandem serve` bind address")
    port: int = Field(8000, description="`tandem serve` port")

    metrics_token: str | None = Field(
        None, description="Bearer token GET /metrics requires when set; unset = /metrics answers loopback clients only"
    )
    metrics_port: int | None = Field(
        None, description="Serve /metrics on this port (of metrics_host) instead of the API's port; each worker takes "
        "the first free port from here up"
    )
    metrics_host: str = Field("127.0.0.1", description="Address the metrics port binds (0.0.0.0 in a container)")
    metrics_max_operations: int = Field(
        100, description="Distinct GraphQL operation names metrics label per process; later names count as `other`"
    )

    @field_validator("jwt_jwks_algorithms")
    @classmethod
    def _asymmetric(cls, algorithms: list[str]) -> list[str]:
        unknown = [a for a in algorithms if a not in requires_cryptography]
        if unknown or not algorithms:
            raise ValueError(f"TANDEM_JWT_JWKS_ALGORITHMS takes asymmetric algorithms only "
                             f"({', '.join(sorted(requires_cryptography))}), not {unknown or 'none'}")
        return algorithms

    @model_validator(mode="after")
    def _jwks_needs_issuer_and_audience(self) -> Settings:
        if self.jwt_jwks_url and not (self.jwt_jwks_issuer and self.jwt_jwks_audience):
            raise ValueError("TANDEM_JWT_JWKS_URL needs TANDEM_JWT_JWKS_ISSUER and TANDEM_JWT_JWKS_AUDIENCE: the "
                             "issuer and audience identity-provider tokens must carry")
        return self

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else self.debug or self.demo


@lru_cache
def get_settings() -> Settings:
    return Settings()
