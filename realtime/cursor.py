"""Opaque feed cursors: an org and an outbox position, signed so a tampered or foreign cursor is
refused (INVALID_CURSOR) and one older than retention is refused too (CURSOR_EXPIRED)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from tandem.domain.shared.errors import DomainError
from tandem.domain.shared.pagination import InvalidCursor


class CursorExpired(DomainError):
    code = "CURSOR_EXPIRED"


class FeedCursors:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"tandem-feed-cursor:" + secret.encode()).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:12]

    def encode(self, org_id: int, position: int) -> str:
        body = f"{org_id}:{position}".encode()
        return base64.urlsafe_b64encode(body + b"." + self._mac(body)).decode().rstrip("=")

    def decode(self, org_id: int, cursor: str | None) -> int:
        """The position after which to read; 0 (from the oldest retained event) when no cursor."""
        if cursor is None:
            return 0
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            body, sep, mac = raw[:-13], raw[-13:-12], raw[-12:]  # the MAC may itself contain "."
            if not body or sep != b"." or not hmac.compare_digest(mac, self._mac(body)):
                raise ValueError
            org, _, position = body.decode().partition(":")
            if int(org) != org_id:
                raise ValueError
            return int(position)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidCursor("This cursor was not issued to your org by this feed.") from exc


def check_not_expired(position: int, pruned_through: int) -> None:
    if position and position < pruned_through:
        raise CursorExpired("Events after this cursor were pruned (older than retention); resync from a snapshot.")
