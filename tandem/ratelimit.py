"""Query cost budgets (Shopify's GraphQL Admin API practice): every operation is priced before it runs
(``tandem.limits.cost_plan``) and the price is taken from a leaky bucket of the user's and one of the
org's; what the answer turned out to hold (``CostPlan.actual``) is the cost, and the difference is given
back. An operation either bucket cannot pay for does not run: RATE_LIMITED, with the seconds until it
could (HTTP 429 and ``Retry-After``).

Buckets live in Redis when ``TANDEM_REDIS_URL`` is set (one Lua script takes from both at once, on
Redis's clock, so every process shares them), in this process's memory otherwise. Redis not answering
lets requests through (logged), rather than failing them. A refund to a Redis bucket is carried by the
same user's next request in this process (one round trip per request)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import GraphQLError, parse
from sqlalchemy import make_url

from .limits import ONE, CostPlan, cost_plan, objects_in
from .settings import Settings

log = logging.getLogger("tandem.ratelimit")

RATE_LIMITED = "RATE_LIMITED"
PLANS = 1_000
"""Documents whose cost plans are kept (by hash and operation name)."""
MEMORY_BUCKETS = 100_000
"""Buckets kept in memory without Redis (the least recently used go first: a forgotten bucket is full)."""
REDIS_PAUSE_SECONDS = 5.0
"""After Redis fails to answer, requests pass without asking it for this long."""
WARN_EVERY_SECONDS = 60.0

# KEYS: the buckets. ARGV[1]: the cost; then per bucket its maximum, restore rate per second and the refund
# it is owed. Answers {1 if taken else 0, seconds to wait, each bucket's level after}.
TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local cost = tonumber(ARGV[1])
local levels, needs, wait = {}, {}, 0
for i = 1, #KEYS do
  local maximum, rate = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local stored = redis.call('HMGET', KEYS[i], 'level', 'at')
  local level = maximum
  if stored[1] then
    level = math.min(maximum, tonumber(stored[1]) + math.max(0, now - tonumber(stored[2])) * rate
                     + tonumber(ARGV[3 * i + 1]))
  end
  levels[i], needs[i] = level, math.min(cost, maximum)
  if level < needs[i] then wait = math.max(wait, (needs[i] - level) / rate) end
end
local taken = 0
if wait == 0 then taken = 1 end
local out = {taken, tostring(wait)}
for i = 1, #KEYS do
  local maximum, rate = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local level = levels[i] - needs[i] * taken
  redis.call('HSET', KEYS[i], 'level', tostring(level), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((maximum - level) / rate * 1000) + 1000)
  out[#out + 1] = tostring(level)
end
return out
"""


@dataclass(frozen=True)
class Budget:
    name: str
    """``user`` or ``org``."""
    maximum: int
    restore: float
    """Restored per second."""


@dataclass
class Charge:
    """One operation's price and what paying it left."""

    plan: CostPlan
    requested: int
    allowed: bool = True
    retry_after: int = 0
    """Whole seconds until the buckets hold the price (refused operations)."""
    levels: dict[str, float] = field(default_factory=dict)
    """Each bucket's level after the operation was charged, by budget name (none: nothing was limited)."""
    keys: dict[str, str] = field(default_factory=dict)
    logged: dict[str, int] = field(default_factory=dict)
    """What the access log line shows of it: ``requested`` when charged, ``actual`` once settled (empty when
    nothing is priced)."""


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.max_tokens = settings.max_tokens
        self.max_nodes = settings.max_query_cost
        self.report = settings.query_cost_extension
        self.budgets = [b for b in (Budget("user", settings.rate_user_bucket, settings.rate_user_restore),
                                    Budget("org", settings.rate_org_bucket, settings.rate_org_restore))
                        if b.maximum > 0]
        self._plans: OrderedDict[tuple[bytes, str | None], CostPlan] = OrderedDict()
        self._memory: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """Bucket key -> (level, monotonic time of that level), without Redis."""
        self._refunds: dict[str, float] = {}
        """What Redis buckets are owed, given with their next charge."""
        self._redis: Any = None
        self._take: Any = None
        self._paused_until = 0.0
        self._warned = 0.0
        # Org and user ids are a database's: two deployments sharing a Redis keep apart by database name.
        database = make_url(settings.database_url).database or ""
        self.prefix = f"tandem:rate:{database}:"
        if settings.redis_url and self.budgets:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
            self._take = self._redis.register_script(TAKE)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def plan(self, query: str, operation_name: str | None) -> CostPlan:
        """The document's cost plan, kept per document hash and operation name (parsed once)."""
        key = (hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=16).digest(), operation_name)
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
            return found
        try:
            found = cost_plan(parse(query, no_location=True, max_tokens=self.max_tokens), operation_name,
                              max_nodes=self.max_nodes)
        except (GraphQLError, RecursionError):
            found = ONE  # the operation answers with the syntax error
        self._plans[key] = found
        if len(self._plans) > PLANS:
            self._plans.popitem(last=False)
        return found

    async def charge(self, org_id: int | None, user_id: int | None, query: str, variables: dict[str, Any] | None,
                     operation_name: str | None) -> Charge:
        """Price the operation and take the price from the user's and the org's buckets (from neither
        when one cannot pay: then ``allowed`` is False). Without a user (no valid token) it is only priced."""
        if not self.budgets and not self.report:
            return Charge(ONE, 1)  # nothing to take, nothing to tell
        plan = self.plan(query, operation_name)
        charge = Charge(plan, plan.requested(variables))
        charge.logged["requested"] = charge.requested
        if not self.budgets or org_id is None:
            return charge
        charge.keys = {"user": f"{self.prefix}user:{org_id}:{user_id}", "org": f"{self.prefix}org:{org_id}"}
        if self._redis is None:
            self._charge_memory(charge)
        elif time.monotonic() >= self._paused_until:
            await self._charge_redis(charge)
        return charge

    def _charge_memory(self, charge: Charge) -> None:
        now = time.monotonic()
        levels = {}
        wait = 0.0
        for budget in self.budgets:
            level, at = self._memory.get(charge.keys[budget.name], (budget.maximum, now))
            levels[budget.name] = level = min(budget.maximum, level + (now - at) * budget.restore)
            need = min(charge.requested, budget.maximum)
            if level < need:
                wait = max(wait, (need - level) / budget.restore)
        charge.allowed = wait == 0
        charge.retry_after = max(1, math.ceil(wait)) if wait else 0
        for budget in self.budgets:
            if charge.allowed:
                levels[budget.name] -= min(charge.requested, budget.maximum)
            key = charge.keys[budget.name]
            self._memory[key] = (levels[budget.name], now)
            self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_BUCKETS:
            self._memory.popitem(last=False)
        charge.levels = levels

    async def _charge_redis(self, charge: Charge) -> None:
        keys = [charge.keys[b.name] for b in self.budgets]
        args: list[Any] = [charge.requested]
        for budget, key in zip(self.budgets, keys, strict=True):
            args += [budget.maximum, budget.restore, self._refunds.pop(key, 0.0)]
        try:
            taken, wait, *levels = await self._take(keys=keys, args=args)
        except Exception:  # Redis unreachable, timed out, or answering an error: let the request through
            self._paused_until = time.monotonic() + REDIS_PAUSE_SECONDS
            if time.monotonic() - self._warned >= WARN_EVERY_SECONDS:
                self._warned = time.monotonic()
                log.warning("rate limits: Redis did not answer; requests pass unlimited for now", exc_info=True)
            return
        charge.allowed = int(taken) == 1
        charge.retry_after = 0 if charge.allowed else max(1, math.ceil(float(wait)))
        charge.levels = {b.name: float(level) for b, level in zip(self.budgets, levels, strict=True)}

    def settle(self, charge: Charge, answer: Any, start: int = 0) -> dict[str, Any] | None:
        """The operation's ``extensions`` (its cost; None when answers do not carry it) once it answered;
        what it was charged beyond its actual cost goes back to the buckets. ``answer``: the answer's JSON
        text, whose ``data`` begins at ``start``; or its decoded ``data``; None when nothing ran."""
        if not self.report and not charge.levels:
            return None
        actual = charge.logged["actual"] = charge.plan.actual(_objects(answer, start))
        refund = max(0, charge.requested - actual) if charge.allowed else 0
        if refund and charge.levels:
            for budget in self.budgets:
                key = charge.keys[budget.name]
                charge.levels[budget.name] = min(budget.maximum, charge.levels[budget.name] + refund)
                if self._redis is None:
                    level, at = self._memory.get(key, (budget.maximum, 0.0))
                    self._memory[key] = (min(budget.maximum, level + refund), at)
                else:
                    if len(self._refunds) >= MEMORY_BUCKETS:
                        self._refunds.clear()
                    self._refunds[key] = self._refunds.get(key, 0.0) + refund
        return self.extension(charge, actual) if self.report else None

    def extension(self, charge: Charge, actual: int) -> dict[str, Any]:
        cost: dict[str, Any] = {"requestedQueryCost": charge.requested, "actualQueryCost": actual}
        statuses = {b.name: {"maximumAvailable": b.maximum, "currentlyAvailable": int(charge.levels[b.name]),
                             "restoreRate": b.restore} for b in self.budgets if b.name in charge.levels}
        if statuses:
            cost["throttleStatus"] = statuses.get("user") or statuses["org"]
            if "user" in statuses and "org" in statuses:
                cost["orgThrottleStatus"] = statuses["org"]
        return {"cost": cost}

    def refusal(self, charge: Charge) -> dict[str, Any]:
        """The answer to an operation the buckets could not pay for (nothing ran)."""
        short = [b.name for b in self.budgets if charge.levels.get(b.name, b.maximum) < min(charge.requested,
                                                                                             b.maximum)]
        whose = "your org's" if short == ["org"] else "your"
        error = {"message": f"Over {whose} query cost budget: this operation costs {charge.requested}; "
                            f"retry in {charge.retry_after} s.",
                 "extensions": {"code": RATE_LIMITED, "retryAfter": charge.retry_after}}
        charge.logged["actual"] = 0
        return {"errors": [error], "extensions": self.extension(charge, 0)}


def _objects(answer: Any, start: int) -> int:
    if answer is None:
        return 0
    if isinstance(answer, bytes):
        return objects_in(answer, start)
    try:
        return objects_in(orjson.dumps(answer))
    except TypeError:  # an integer orjson does not take: the count is the same in json's text
        return objects_in(json.dumps(answer, separators=(",", ":")).encode())
