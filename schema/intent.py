"""A customer's intent: its score, level and the signals behind them (``Customer.intent``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tandem.domain.automation.intent import Intent
from tandem.domain.automation.intent import IntentLevel as _IntentLevel
from tandem.domain.crm.interaction import InteractionKind as _InteractionKind

from .interaction import InteractionKind

IntentLevel = strawberry.enum(_IntentLevel, name="IntentLevel")


@strawberry.type(description="One kind of signal in the last 30 days: how many, and the latest.")
class IntentSignal:
    kind: InteractionKind
    count: int
    last_at: datetime


@strawberry.type(description="How keen the customer looks, from its meetings, content downloads, web visits and "
                             "e-mail opens of the last 30 days (each weighted by kind, halved after 7 days): a "
                             "score from 0 to 100, LOW below 25, MEDIUM from 25, HIGH from 60.")
class CustomerIntent:
    score: int
    level: IntentLevel
    signals: list[IntentSignal]

    @classmethod
    def from_domain(cls, intent: Intent) -> CustomerIntent:
        return cls(score=intent.score, level=intent.level, signals=[
            IntentSignal(kind=_InteractionKind(s.kind), count=s.count, last_at=s.last_at) for s in intent.signals])
