"""Bearer JWT: HS256 with a dev secret by default; RS256 with a configured public key."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.user import User, active_identity

from .db import Database
from .settings import Settings


class AuthError(Exception):
    pass


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


def verify_token(settings: Settings, token: str) -> dict[str, Any]:
    key = settings.jwt_public_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret
    if not key:
        raise AuthError("No key is configured to verify tokens.")
    try:
        claims = jwt.decode(
            token, key, algorithms=[settings.jwt_algorithm], audience=settings.jwt_audience,
            issuer=settings.jwt_issuer, options={"require": ["exp", "sub", "org"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("The token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("The token is not valid.") from exc
    if not str(claims.get("sub", "")).isdigit() or not isinstance(claims.get("org"), int):
        raise AuthError("The token is not valid.")
    return claims


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


UNKNOWN_USER = "The token's user is unknown or inactive."


def read_claims(settings: Settings, header: str | None) -> tuple[dict[str, Any] | None, str]:
    """The verified claims of an Authorization header's bearer token, or None and the reason."""
    token = bearer(header)
    if token is None:
        return None, "A bearer token is required (Authorization: Bearer <token>)."
    try:
        return verify_token(settings, token), ""
    except AuthError as exc:
        return None, str(exc)


class VerifiedTokens:
    """``read_claims`` that remembers the claims of the last ``size`` tokens it verified: a token's claims
    never change, only time can expire it, and that is checked again on every use."""

    def __init__(self, settings: Settings, size: int = 10_000) -> None:
        self.settings = settings
        self.size = size
        self._claims: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def read(self, header: str | None) -> tuple[dict[str, Any] | None, str]:
        token = bearer(header)
        claims = self._claims.get(token) if token is not None else None
        if claims is not None and claims["exp"] > time.time() and claims.get("nbf", 0) <= time.time():
            self._claims.move_to_end(token)  # type: ignore[arg-type]
            return claims, ""
        claims, reason = read_claims(self.settings, header)
        if claims is not None and token is not None:
            self._claims[token] = claims
            if len(self._claims) > self.size:
                self._claims.popitem(last=False)
        return claims, reason


async def actor_of_claims(session: AsyncSession, claims: dict[str, Any]) -> Actor | None:
    """The actor verified claims name, if that user still exists and is active (``session``: one bound
    to the claims' org; an HTTP request goes on reading in it)."""
    found = await active_identity(session, int(claims["sub"]), claims["org"])
    return None if found is None else actor_of(found)


def actor_of(user: Any) -> Actor:
    """The actor a user is (a ``User`` or a row with its id, org_id, roles, email and team_id)."""
    return Actor(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email,
                 team_id=user.team_id)


async def authenticate(db: Database, settings: Settings, header: str | None) -> tuple[Actor | None, str]:
    """The actor a bearer token names, or None and the reason."""
    claims, reason = read_claims(settings, header)
    if claims is None:
        return None, reason
    async with db.read(claims["org"]) as session:
        actor = await actor_of_claims(session, claims)
    return (actor, "") if actor is not None else (None, UNKNOWN_USER)
