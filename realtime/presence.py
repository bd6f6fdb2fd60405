"""Who has a record open: each viewer's client touches the record every few seconds; a viewer not heard from
for ``ttl`` seconds is gone. Kept in Redis (a sorted set per record, scored by when each viewer expires, so
every process sees the same) or in memory on the embedded default. A join, a change (viewing → editing)
or a leave is announced on the record's presence channel; an expiry is noticed by the subscribers
themselves (they wake at the next expiry and read again), so nothing needs a sweeper."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from broadcaster import Broadcast

from .channels import presence_channel


@dataclass(frozen=True)
class Present:
    user_id: int
    editing: bool
    since: float
    """When they opened the record (epoch seconds)."""
    expires_at: float


class Presence:
    def __init__(self, broadcast: Broadcast, redis_url: str | None = None, *, ttl: float = 30.0) -> None:
        self.broadcast = broadcast
        self.ttl = ttl
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
        self._memory: dict[str, dict[int, Present]] = {}

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def touch(self, org_id: int, record_type: str, record_id: int, user_id: int, *,
                    editing: bool = False) -> list[Present]:
        """Mark the user present (for ``ttl`` more seconds); announce it when it is news (a join, or a
        change between viewing and editing). Returns who is present now."""
        now = time.time()
        key = _key(org_id, record_type, record_id)
        before = {p.user_id: p for p in await self._read(key, now)}
        known = before.get(user_id)
        entry = Present(user_id, editing, known.since if known else now, now + self.ttl)
        await self._write(key, entry)
        present = {**before, user_id: entry}
        if known is None or known.editing != editing:
            await self._announce(org_id, record_type, record_id)
        return sorted(present.values(), key=lambda p: (p.since, p.user_id))

    async def leave(self, org_id: int, record_type: str, record_id: int, user_id: int) -> list[Present]:
        key = _key(org_id, record_type, record_id)
        removed = await self._remove(key, user_id)
        if removed:
            await self._announce(org_id, record_type, record_id)
        return await self.present(org_id, record_type, record_id)

    async def present(self, org_id: int, record_type: str, record_id: int) -> list[Present]:
        """Who is present now, first come first."""
        found = await self._read(_key(org_id, record_type, record_id), time.time())
        return sorted(found, key=lambda p: (p.since, p.user_id))

    async def _announce(self, org_id: int, record_type: str, record_id: int) -> None:
        await self.broadcast.publish(presence_channel(org_id, record_type, record_id),
                                     json.dumps({"org": org_id, "presence": [record_type, record_id]}))

    # --- storage ----------------------------------------------------------------------------------

    async def _read(self, key: str, now: float) -> list[Present]:
        if self._redis is None:
            entries = self._memory.get(key, {})
            for user_id in [u for u, p in entries.items() if p.expires_at <= now]:
                del entries[user_id]
            if not entries:
                self._memory.pop(key, None)
            return list(entries.values())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.hgetall(key + ":meta")
            _, members, meta = await pipe.execute()
        out = []
        for member, score in members:
            user_id = int(member)
            since, _, editing = (meta.get(member) or b"0|0").decode().partition("|")
            out.append(Present(user_id, editing == "1", float(since or now), float(score)))
        return out

    async def _write(self, key: str, entry: Present) -> None:
        if self._redis is None:
            self._memory.setdefault(key, {})[entry.user_id] = entry
            return
        keep = int(self.ttl * 2) + 1
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {str(entry.user_id): entry.expires_at})
            pipe.hset(key + ":meta", str(entry.user_id), f"{entry.since}|{1 if entry.editing else 0}")
            pipe.expire(key, keep)
            pipe.expire(key + ":meta", keep)
            await pipe.execute()

    async def _remove(self, key: str, user_id: int) -> bool:
        if self._redis is None:
            return self._memory.get(key, {}).pop(user_id, None) is not None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(key, str(user_id))
            pipe.hdel(key + ":meta", str(user_id))
            removed, _ = await pipe.execute()
        return bool(removed)


def _key(org_id: int, record_type: str, record_id: int) -> str:
    return f"tandem:presence:{org_id}:{record_type}:{record_id}"
