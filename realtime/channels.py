"""Broadcaster channel names: one place, so publishers and subscribers agree."""

from __future__ import annotations


def record_channel(org_id: int, record_type: str, record_id: int) -> str:
    return f"org:{org_id}:record:{record_type}:{record_id}"


def user_channel(org_id: int, user_id: int) -> str:
    return f"org:{org_id}:user:{user_id}"


def feed_channel(org_id: int) -> str:
    return f"org:{org_id}:feed"


SESSIONS_CHANNEL = "tandem:sessions"
"""Events after which open websockets of a user must end (every process follows it, one subscription each)."""

ENDS_SESSIONS = frozenset({"user.deactivated"})


def presence_channel(org_id: int, record_type: str, record_id: int) -> str:
    return f"org:{org_id}:presence:{record_type}:{record_id}"
