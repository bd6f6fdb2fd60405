"""Receivables over the invoices the caller may see."""

from __future__ import annotations

from datetime import date

import strawberry

from tandem.domain.billing import receivable as service
from tandem.domain.crm.customer import get_customer
from tandem.domain.shared.errors import DomainError
from tandem.domain.shared.money import is_currency
from tandem.domain.tenancy.org import get_org
from tandem.schema.node import decode_id
from tandem.schema.receivable import Receivables


@strawberry.type
class ReceivableQuery:
    @strawberry.field(description="Outstanding, aging (current, 1–30, 31–60, 61–90, 90+ days), DSO and on-time "
                                  "payment rate, for one customer or the whole book, in one currency (default: "
                                  "the org's).")
    async def receivables(self, info: strawberry.Info, customer_id: strawberry.ID | None = None,
                          currency: str | None = None, as_of: date | None = None, period_days: int = 90,
                          first: int = 20) -> Receivables:
        ctx = info.context
        ctx.authz.require("Invoice", "receivables")
        if not 1 <= period_days <= 3660:
            raise DomainError("`periodDays` must be between 1 and 3660.")
        if not 0 <= first <= 100:
            raise DomainError("`first` must be between 0 and 100.")
        actor = ctx.actor
        async with ctx.read() as session:
            customer = await get_customer(session, actor, decode_id("Customer", customer_id)) if customer_id else None
            code = (currency or "").strip().upper() or (await get_org(session, actor.org_id)).default_currency
            if not is_currency(code):
                raise DomainError(f"{currency!r} is not an ISO 4217 currency code.")
            figures = await service.receivables(session, actor, customer_id=customer.id if customer else None,
                                                currency=code, as_of=as_of, period_days=period_days)
            invoices = await service.open_invoices(session, actor, customer_id=customer.id if customer else None,
                                                   currency=code, limit=first) if first else []
        return Receivables.from_domain(figures, invoices)
