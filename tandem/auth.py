"""Bearer JWT, of two kinds. Tandem's own tokens (HS256 with a secret by default, or RS256 with a configured
public key; no ``kid``) name a Tandem user and org by id. An identity provider's tokens (RS256, ES256, ...
signed with a key its JWKS URL publishes, named by the token's ``kid``) name a person by the provider's own id
or a verified e-mail, which is mapped to a Tandem user here. Either way the app reads the same claims
afterwards: ``sub`` is the user's id (a string of digits), ``org`` the org's id (an int)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.user import User, active_identity

from .settings import Settings


class AuthError(Exception):
    pass


# Why a token is refused: the message of the UNAUTHENTICATED error (README, "Identity providers").
BEARER_REQUIRED = "A bearer token is required (Authorization: Bearer <token>)."
INVALID = "The token is not valid."
EXPIRED = "The token has expired."
WRONG_ISSUER = "The token's issuer (iss) is not one Tandem trusts."
WRONG_AUDIENCE = "The token's audience (aud) is not this API."
KEYS_UNAVAILABLE = "The identity provider's keys (TANDEM_JWT_JWKS_URL) could not be fetched; try again later."
UNKNOWN_KEY = "The token is signed with a key the identity provider does not publish (unknown kid)."
NO_USER_CLAIM = "The token does not name its user (the claim TANDEM_JWT_USER_CLAIM names)."
BAD_ORG = "The token's org claim (TANDEM_JWT_ORG_CLAIM) is not a Tandem org id."
UNMAPPED_USER = "No active Tandem user has this token's external id or verified e-mail."
AMBIGUOUS_USER = ("Users of several orgs have this token's external id: the token must name the org "
                  "(TANDEM_JWT_ORG_CLAIM).")
UNKNOWN_USER = "The token's user is unknown or inactive."


def mint_token(settings: Settings, user: User, *, ttl_seconds: int | None = None) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "org": user.org_id,
        "email": user.email,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds or settings.token_ttl_seconds),
    }
    if settings.jwt_algorithm == "RS256":
        if not settings.jwt_private_key:
            raise AuthError("RS256 tokens come from your identity provider; set TANDEM_JWT_PRIVATE_KEY to mint one")
        return jwt.encode(claims, settings.jwt_private_key, algorithm="RS256")
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def _decode(token: str, key: Any, algorithms: list[str], *, issuer: str, audience: str,
            require: list[str]) -> dict[str, Any]:
    try:
        return jwt.decode(token, key, algorithms=algorithms, audience=audience, issuer=issuer,
                          options={"require": require})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError(EXPIRED) from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError(WRONG_ISSUER) from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError(WRONG_AUDIENCE) from exc
    except jwt.PyJWTError as exc:
        raise AuthError(INVALID) from exc


def verify_token(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of one of Tandem's own tokens (its ``sub`` and ``org`` are the ids themselves)."""
    key = settings.jwt_public_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret
    if not key:
        raise AuthError("No key is configured to verify tokens.")
    claims = _decode(token, key, [settings.jwt_algorithm], issuer=settings.jwt_issuer,
                     audience=settings.jwt_audience, require=["exp", "sub", "org"])
    if not str(claims.get("sub", "")).isdigit() or not isinstance(claims.get("org"), int):
        raise AuthError(INVALID)
    return claims


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


ORG_ID = re.compile(r"[0-9]{1,18}")
MAX_ID = 2**63 - 1


class IdentityProvider:
    """Tokens of an OpenID Connect provider (Keycloak, Auth0, Entra ID, ...): verified with the keys its JWKS
    URL publishes (PyJWT's ``PyJWKClient``: the key set is kept ``jwt_jwks_cache_seconds``, fetched again for
    an unknown ``kid`` at most once per ``jwt_jwks_refresh_seconds``, in a worker thread so the event loop
    never waits on the provider), and their user mapped to a Tandem user.

    The mapping reads users of every org, so it runs on ``owner_engine``: the connection the relay uses, not
    subject to row-level security; it reads two columns of at most two active users and nothing else."""

    def __init__(self, settings: Settings, owner_engine: AsyncEngine) -> None:
        assert settings.jwt_jwks_url and settings.jwt_jwks_issuer and settings.jwt_jwks_audience
        self.settings = settings
        self.issuer, self.audience = settings.jwt_jwks_issuer, settings.jwt_jwks_audience
        self.engine = owner_engine
        self.keys = jwt.PyJWKClient(settings.jwt_jwks_url, lifespan=settings.jwt_jwks_cache_seconds,
                                    cooldown_duration=settings.jwt_jwks_refresh_seconds,
                                    timeout=settings.jwt_jwks_timeout_seconds)

    def _signing_key(self, kid: Any) -> jwt.PyJWK:
        """The published key ``kid`` names (blocking: runs in a worker thread)."""
        try:
            self.keys.get_signing_keys()  # the set itself: fetched (or cached) and usable
        except jwt.PyJWTError as exc:  # unreachable, not JSON, no signing keys
            raise AuthError(KEYS_UNAVAILABLE) from exc
        try:
            return self.keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:  # the refresh an unknown kid asked for failed
            raise AuthError(KEYS_UNAVAILABLE) from exc
        except jwt.PyJWTError as exc:
            raise AuthError(UNKNOWN_KEY) from exc

    async def verify(self, token: str, kid: Any) -> dict[str, Any]:
        """The token's claims with ``sub`` and ``org`` those of the Tandem user it maps to."""
        key = await asyncio.to_thread(self._signing_key, kid)
        claims = _decode(token, key, list(self.settings.jwt_jwks_algorithms), issuer=self.issuer,
                         audience=self.audience, require=["exp", "iss", "aud"])
        user_id, org_id = await self._user_of(claims)
        return {**claims, "sub": str(user_id), "org": org_id, "idp_sub": claims.get("sub")}

    async def _user_of(self, claims: dict[str, Any]) -> tuple[int, int]:
        s = self.settings
        external_id = claims.get(s.jwt_user_claim)
        if isinstance(external_id, int) and not isinstance(external_id, bool):
            external_id = str(external_id)
        if not isinstance(external_id, str) or not external_id.strip():
            raise AuthError(NO_USER_CLAIM)
        org_id = _org_id(claims.get(s.jwt_org_claim)) if s.jwt_org_claim else None
        email = claims.get(s.jwt_email_claim) if s.jwt_email_claim else None
        verified = isinstance(email, str) and claims.get(s.jwt_email_verified_claim) is True
        found = await self._lookup(User.external_id == external_id, org_id) if len(external_id) <= 255 else []
        if not found and verified:
            found = await self._lookup(User.email == email.strip().lower(), org_id)  # type: ignore[union-attr]
        if not found:
            raise AuthError(UNMAPPED_USER)
        if len(found) > 1:
            raise AuthError(AMBIGUOUS_USER)
        [(user_id, user_org)] = found
        return user_id, user_org

    async def _lookup(self, condition: Any, org_id: int | None) -> list[tuple[int, int]]:
        query = select(User.id, User.org_id).where(condition, User.active.is_(True)).limit(2)
        if org_id is not None:
            query = query.where(User.org_id == org_id)
        async with self.engine.connect() as connection:
            return [(row.id, row.org_id) for row in await connection.execute(query)]


def _org_id(value: Any) -> int | None:
    """The Tandem org id an org claim holds (an int or a string of digits), None when it holds none."""
    if value is None:
        return None
    if isinstance(value, str) and ORG_ID.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    raise AuthError(BAD_ORG)


class VerifiedTokens:
    """The verified claims of an Authorization header's bearer token, remembering those of the last ``size``
    tokens: a token's claims never change (an identity provider's user mapping included), only time can
    expire it, and that is checked again on every use. The user's row is not: the app checks it is active
    on each request (HTTP) or connection (websocket).

    ``owner_engine``: a connection not subject to row-level security, for mapping identity-provider tokens
    to users (required with ``jwt_jwks_url``)."""

    def __init__(self, settings: Settings, size: int = 10_000, *, owner_engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.size = size
        self._claims: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.provider: IdentityProvider | None = None
        if settings.jwt_jwks_url:
            if owner_engine is None:
                raise ValueError("TANDEM_JWT_JWKS_URL: identity-provider tokens need an engine to map users with")
            self.provider = IdentityProvider(settings, owner_engine)

    async def read(self, header: str | None) -> tuple[dict[str, Any] | None, str]:
        """The claims, or None and the reason they are refused."""
        token = bearer(header)
        if token is None:
            return None, BEARER_REQUIRED
        claims = self._claims.get(token)
        if claims is not None and claims["exp"] > time.time() and claims.get("nbf", 0) <= time.time():
            self._claims.move_to_end(token)
            return claims, ""
        try:
            claims = await self.verify(token)
        except AuthError as exc:
            return None, str(exc)
        self._claims[token] = claims
        if len(self._claims) > self.size:
            self._claims.popitem(last=False)
        return claims, ""

    async def verify(self, token: str) -> dict[str, Any]:
        """An identity provider's token when it names a key (``kid``) and a provider is configured; otherwise
        one of Tandem's own. Each kind is verified only with its own keys and algorithms: an HS256 token
        signed with the provider's public key, or one with ``alg: none``, is not valid either way."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError(INVALID) from None
        if self.provider is not None and "kid" in header:
            return await self.provider.verify(token, header["kid"])
        return verify_token(self.settings, token)


async def actor_of_claims(session: AsyncSession, claims: dict[str, Any]) -> Actor | None:
    """The actor verified claims name, if that user still exists and is active (``session``: one bound
    to the claims' org; an HTTP request goes on reading in it)."""
    found = await active_identity(session, int(claims["sub"]), claims["org"])
    return None if found is None else actor_of(found)


def actor_of(user: Any) -> Actor:
    """The actor a user is (a ``User`` or a row with its id, org_id, roles, email and team_id)."""
    return Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email,
                 team_id=user.team_id)
