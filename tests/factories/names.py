"""Names no other test run has used, so tests sharing a database never collide."""

from __future__ import annotations

import uuid


def unique(prefix: str) -> str:
    """``prefix`` followed by a random tag."""
    return f"{prefix} {uuid.uuid4().hex[:10]}"
