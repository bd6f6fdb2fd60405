"""Keyset pagination and filters of list_customers / list_opportunities, in a fresh org per test."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tandem.domain.crm.customer import CustomerFilter, CustomerInput, create_customer, list_customers
from tandem.domain.pipeline.opportunity import (
    OpportunityFilter,
    OpportunityInput,
    create_opportunity,
    list_opportunities,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.shared.pagination import InvalidCursor, Page, PageRequest
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of

Fetch = Callable[[PageRequest], Awaitable[Page[Any]]]


@dataclass
class Tenant:
    org_id: int
    actor: Actor
    customer_id: int


async def new_tenant(db: Any) -> Tenant:
    """A fresh org with one user and one customer ("Anchor") to hang opportunities on."""
    async with db.write() as session:
        org = await create_org(session, f"Org {uuid.uuid4().hex[:10]}", "CNY")
        user = await create_user(session, org.id, email=f"{uuid.uuid4().hex}@page.test", name="Rep",
                                 roles=["sales_rep"])
        actor = actor_of(user)
        anchor = await create_customer(session, actor, CustomerInput(name="Anchor"))
        return Tenant(org.id, actor, anchor.id)


async def add_customers(db: Any, tenant: Tenant, *specs: dict[str, Any]) -> list[Any]:
    async with db.write() as session:
        return [await create_customer(session, tenant.actor, CustomerInput(**spec)) for spec in specs]


async def add_opportunities(db: Any, tenant: Tenant, *specs: dict[str, Any]) -> list[Any]:
    async with db.write() as session:
        out = []
        for spec in specs:
            fields = {"customer_id": tenant.customer_id, "name": f"Deal {uuid.uuid4().hex[:8]}", "currency": "CNY"}
            out.append(await create_opportunity(session, tenant.actor, OpportunityInput(**{**fields, **spec})))
        return out


def customers_of(db: Any, tenant: Tenant, flt: CustomerFilter | None = None, **kw: Any) -> Fetch:
    async def fetch(req: PageRequest) -> Page[Any]:
        async with db.read() as session:
            return await list_customers(session, tenant.actor, flt or CustomerFilter(), req, **kw)

    return fetch


def opportunities_of(db: Any, tenant: Tenant, flt: OpportunityFilter | None = None, **kw: Any) -> Fetch:
    async def fetch(req: PageRequest) -> Page[Any]:
        async with db.read() as session:
            return await list_opportunities(session, tenant.actor, flt or OpportunityFilter(), req, **kw)

    return fetch


async def walk_forward(fetch: Fetch, size: int, *, descending: bool = False) -> list[Page[Any]]:
    pages: list[Page[Any]] = []
    after = None
    for _ in range(200):
        page = await fetch(PageRequest(first=size, after=after, descending=descending))
        pages.append(page)
        if not page.has_next:
            return pages
        after = page.cursors[-1]
    raise AssertionError("pagination never ended")


async def walk_backward(fetch: Fetch, size: int, *, descending: bool = False) -> list[Page[Any]]:
    pages: list[Page[Any]] = []
    before = None
    for _ in range(200):
        page = await fetch(PageRequest(last=size, before=before, descending=descending))
        pages.append(page)
        if not page.has_previous:
            return pages
        before = page.cursors[0]
    raise AssertionError("pagination never ended")


def ids(pages: list[Page[Any]]) -> list[int]:
    return [item.id for page in pages for item in page.items]


def flags(pages: list[Page[Any]]) -> list[tuple[int, bool, bool]]:
    return [(len(p.items), p.has_next, p.has_previous) for p in pages]


async def tenant_with_25_customers(db: Any) -> tuple[Tenant, list[Any]]:
    tenant = await new_tenant(db)
    numbers = list(range(25))
    random.Random(7).shuffle(numbers)  # created out of name order
    created = await add_customers(db, tenant, *({"name": f"Kunde {n:02d}"} for n in numbers))
    return tenant, sorted(created, key=lambda c: c.name)


# --- walking pages ---------------------------------------------------------------------------


async def test_walking_forward_visits_every_customer_once_in_name_order(db):
    # given
    tenant, customers = await tenant_with_25_customers(db)
    by_name = [tenant.customer_id] + [c.id for c in customers]  # "Anchor" first, then "Kunde 00".."Kunde 24"
    # when
    pages = await walk_forward(customers_of(db, tenant), 10)
    # then
    assert ids(pages) == by_name
    assert flags(pages) == [(10, True, False), (10, True, True), (6, False, True)]


async def test_walking_backward_gives_the_same_customers_reversed(db):
    # given
    tenant, customers = await tenant_with_25_customers(db)
    forward = ids(await walk_forward(customers_of(db, tenant), 10))
    # when
    pages = await walk_backward(customers_of(db, tenant), 10)
    # then
    assert [i for page in reversed(pages) for i in [item.id for item in page.items]] == forward
    assert [item.id for page in pages for item in reversed(page.items)] == list(reversed(forward))
    assert flags(pages) == [(10, False, True), (10, True, True), (6, True, False)]


async def test_walking_descending_gives_the_reverse_order(db):
    # given
    tenant, _ = await tenant_with_25_customers(db)
    ascending = ids(await walk_forward(customers_of(db, tenant), 10))
    # when
    pages = await walk_forward(customers_of(db, tenant), 7, descending=True)
    # then
    assert ids(pages) == list(reversed(ascending))
    assert flags(pages) == [(7, True, False), (7, True, True), (7, True, True), (5, False, True)]


async def test_page_size_dividing_the_total_has_no_empty_last_page(db):
    # given
    tenant, _ = await tenant_with_25_customers(db)  # 26 customers with the anchor
    # when
    pages = await walk_forward(customers_of(db, tenant), 13)
    # then
    assert flags(pages) == [(13, True, False), (13, False, True)]


async def test_one_page_holding_everything_has_neither_next_nor_previous(db):
    # given
    tenant, _ = await tenant_with_25_customers(db)
    # when
    page = await customers_of(db, tenant)(PageRequest(first=100))
    # then
    assert (len(page.items), page.has_next, page.has_previous) == (26, False, False)


@pytest.mark.parametrize("sort", ["CREATED_AT", "UPDATED_AT", "NAME"])
async def test_every_customer_sort_paginates_without_gaps(db, sort):
    # given
    tenant, customers = await tenant_with_25_customers(db)
    everything = await customers_of(db, tenant, sort=sort)(PageRequest(first=100))
    # when
    pages = await walk_forward(customers_of(db, tenant, sort=sort), 4)
    # then
    assert ids(pages) == [c.id for c in everything.items]
    assert sorted(ids(pages)) == sorted([tenant.customer_id] + [c.id for c in customers])


# --- sorting with ties and nulls -------------------------------------------------------------

AMOUNTS = ["300", "100", "200", "100", "300", "100", "0", "200", "100", "300", "100", "0.01", "1234567890123.45"]


@pytest.mark.parametrize("size", [1, 2, 3, 5])
async def test_sorting_by_amount_with_ties_paginates_without_gaps(db, size):
    # given
    tenant = await new_tenant(db)
    created = await add_opportunities(db, tenant, *({"amount": Decimal(a)} for a in AMOUNTS))
    ascending = [o.id for o in sorted(created, key=lambda o: (o.amount, o.id))]
    fetch = opportunities_of(db, tenant, sort="AMOUNT")
    # when
    forward = await walk_forward(fetch, size)
    backward = await walk_backward(fetch, size)
    descending = await walk_forward(fetch, size, descending=True)
    # then
    assert ids(forward) == ascending
    assert [item.id for page in backward for item in reversed(page.items)] == list(reversed(ascending))
    assert ids(descending) == [o.id for o in sorted(created, key=lambda o: (o.amount, o.id), reverse=True)]


CLOSE_DATES = [date(2026, 9, 1), None, date(2026, 6, 30), date(2026, 9, 1), None, date(2026, 6, 30),
               date(2027, 1, 15), None, date(2026, 9, 1), date(2025, 12, 31)]


@pytest.mark.parametrize("size", [1, 2, 4])
async def test_sorting_by_expected_close_date_puts_undated_last_and_paginates_without_gaps(db, size):
    # given
    tenant = await new_tenant(db)
    created = await add_opportunities(db, tenant, *({"expected_close_date": d} for d in CLOSE_DATES))
    key = lambda o: (o.expected_close_date or date.max, o.id)  # noqa: E731
    fetch = opportunities_of(db, tenant, sort="EXPECTED_CLOSE_DATE")
    # when
    forward = await walk_forward(fetch, size)
    backward = await walk_backward(fetch, size)
    descending = await walk_forward(fetch, size, descending=True)
    # then
    assert ids(forward) == [o.id for o in sorted(created, key=key)]
    assert [o.expected_close_date for page in forward for o in page.items][-3:] == [None, None, None]
    assert [item.id for page in backward for item in reversed(page.items)] == [
        o.id for o in sorted(created, key=key, reverse=True)]
    assert ids(descending) == [o.id for o in sorted(created, key=key, reverse=True)]


@pytest.mark.parametrize("sort", ["CREATED_AT", "UPDATED_AT", "NAME", "AMOUNT", "EXPECTED_CLOSE_DATE"])
async def test_every_opportunity_sort_paginates_without_gaps(db, sort):
    # given
    tenant = await new_tenant(db)
    created = await add_opportunities(db, tenant, *(
        {"amount": Decimal(a), "expected_close_date": d, "name": f"Deal {i % 4}"}
        for i, (a, d) in enumerate(zip(AMOUNTS, CLOSE_DATES + [None, None, None], strict=True))))
    everything = await opportunities_of(db, tenant, sort=sort)(PageRequest(first=100))
    # when
    pages = await walk_forward(opportunities_of(db, tenant, sort=sort), 3)
    # then
    assert ids(pages) == [o.id for o in everything.items]
    assert sorted(ids(pages)) == sorted(o.id for o in created)


# --- cursors ---------------------------------------------------------------------------------


async def test_cursor_from_one_sort_is_refused_by_another(db):
    # given
    tenant = await new_tenant(db)
    await add_opportunities(db, tenant, {"amount": Decimal("1")}, {"amount": Decimal("2")})
    page = await opportunities_of(db, tenant, sort="AMOUNT")(PageRequest(first=1))
    # when
    with pytest.raises(InvalidCursor) as caught:
        await opportunities_of(db, tenant, sort="CREATED_AT")(PageRequest(first=1, after=page.cursors[0]))
    # then
    assert caught.value.code == "INVALID_CURSOR"


@pytest.mark.parametrize("cursor", ["", "not-a-cursor", "W10", "WyJOQU1FIiwiYSIsIngiXQ", "%%%"])
async def test_malformed_cursor_is_refused(db, cursor):
    # given
    tenant = await new_tenant(db)
    # when
    with pytest.raises(InvalidCursor) as caught:
        await customers_of(db, tenant)(PageRequest(first=5, after=cursor))
    # then
    assert caught.value.code == "INVALID_CURSOR"


# --- filters ---------------------------------------------------------------------------------

SEARCH_NAMES = ["Alpha Widgets", "ALPHA gadgets", "Betalpha", "Beta", "100% Solar", "1000 Solar", "a_b Trading",
                "axb Trading", "C:\\Shares", "华为技术有限公司", "上海华为", "Škoda Auto", "ÉCOLE Centrale"]


@pytest.mark.parametrize(("search", "expected"), [
    ("alpha", ["ALPHA gadgets", "Alpha Widgets", "Betalpha"]),
    ("  ALPHA ", ["ALPHA gadgets", "Alpha Widgets", "Betalpha"]),
    ("%", ["100% Solar"]),
    ("100%", ["100% Solar"]),
    ("_", ["a_b Trading"]),
    ("a_b", ["a_b Trading"]),
    ("\\", ["C:\\Shares"]),
    ("华为", ["上海华为", "华为技术有限公司"]),
    ("nothing like it", []),
])
async def test_customer_search_is_a_case_insensitive_literal_substring(db, search, expected):
    # given
    tenant = await new_tenant(db)
    await add_customers(db, tenant, *({"name": n} for n in SEARCH_NAMES))
    # when
    page = await customers_of(db, tenant, CustomerFilter(search=search))(PageRequest(first=100))
    # then
    assert sorted(c.name for c in page.items) == sorted(expected)


@pytest.mark.parametrize(("search", "expected"), [
    ("škoda", ["Škoda Auto"]),
    ("école", ["ÉCOLE Centrale"]),
])
async def test_customer_search_ignores_case_beyond_ascii(db, search, expected):
    # given
    tenant = await new_tenant(db)
    await add_customers(db, tenant, *({"name": n} for n in SEARCH_NAMES))
    # when
    page = await customers_of(db, tenant, CustomerFilter(search=search))(PageRequest(first=100))
    # then
    assert [c.name for c in page.items] == expected


@pytest.mark.parametrize(("search", "expected"), [
    ("erp", ["ERP 实施 50%", "erp_upgrade"]),
    ("50%", ["ERP 实施 50%"]),
    ("p_u", ["erp_upgrade"]),
])
async def test_opportunity_search_is_a_case_insensitive_literal_substring(db, search, expected):
    # given
    tenant = await new_tenant(db)
    await add_opportunities(db, tenant, *({"name": n} for n in ["ERP 实施 50%", "erp_upgrade", "erpXupgrade 5"]))
    # when
    page = await opportunities_of(db, tenant, OpportunityFilter(search=search))(PageRequest(first=100))
    # then
    assert sorted(o.name for o in page.items) == sorted(expected + (["erpXupgrade 5"] if search == "erp" else []))


TAGGED = [
    ("Huawei", ["制造", "重点客户"]),
    ("SPDB", ["金融", "华东"]),
    ("Haier", ["制造业"]),
    ("Northwind", ["engineering", "EMEA"]),
    ("Quoted", ['say "hi"', "back\\slash"]),
    ("Untagged", []),
]


@pytest.mark.parametrize(("tag", "expected"), [
    ("制造", ["Huawei"]),
    ("制造业", ["Haier"]),
    ("重点客户", ["Huawei"]),
    ("华东", ["SPDB"]),
    ("engineering", ["Northwind"]),
    ("EMEA", ["Northwind"]),
    ('say "hi"', ["Quoted"]),
    ("back\\slash", ["Quoted"]),
    ("造", []),
    ("nothing", []),
])
async def test_tag_filter_matches_whole_tags_on_both_backends(db, tag, expected):
    # given
    tenant = await new_tenant(db)
    await add_customers(db, tenant, *({"name": n, "tags": t} for n, t in TAGGED))
    # when
    page = await customers_of(db, tenant, CustomerFilter(tag=tag))(PageRequest(first=100))
    # then
    assert sorted(c.name for c in page.items) == sorted(expected)


async def test_filtered_pages_walk_only_matching_rows(db):
    # given
    tenant = await new_tenant(db)
    await add_customers(db, tenant, *({"name": f"Kunde {i:02d}", "tags": ["制造"] if i % 3 == 0 else ["金融"]}
                                      for i in range(25)))
    fetch = customers_of(db, tenant, CustomerFilter(tag="制造", search="kunde"))
    # when
    pages = await walk_forward(fetch, 4)
    # then
    assert [c.name for page in pages for c in page.items] == [f"Kunde {i:02d}" for i in range(0, 25, 3)]
    assert flags(pages) == [(4, True, False), (4, True, True), (1, False, True)]
