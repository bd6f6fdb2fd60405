"""Archiving's rules (pure), the lists' archived filter on a real database, and the registry's archivable
types: each one's model can be archived and its archived/restored events are declared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tandem.domain.crm.customer import Customer, CustomerInput, create_customer
from tandem.domain.registry import ARCHIVABLE_TYPES, RECORD_TYPES, TOPICS, payload_keys
from tandem.domain.registry.archive import archive_record, restore_record
from tandem.domain.registry.payloads import record_topic
from tandem.domain.shared.archive import Archivable, listed
from tandem.domain.shared.errors import NotFound, SharedErrorCode, ValidationFailed
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tests.conftest import actor_of
from tests.factories.names import unique

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_a_record_is_archived_once_and_restored_once():
    # given an active customer
    customer = Customer(name="归档")
    # when it is archived
    customer.archive(AT)
    # then it is archived at that moment, and archiving again is refused
    assert (customer.is_archived, customer.archived_at) == (True, AT)
    with pytest.raises(ValidationFailed) as twice:
        customer.archive(AT)
    assert [e.code for e in twice.value.errors] == [SharedErrorCode.ALREADY_ARCHIVED]
    # when it is restored, it is active; restoring again is refused
    assert customer.restore() == AT
    assert customer.archived_at is None
    with pytest.raises(ValidationFailed) as again:
        customer.restore()
    assert [e.code for e in again.value.errors] == [SharedErrorCode.NOT_ARCHIVED]


@pytest.mark.parametrize("type_name", sorted(ARCHIVABLE_TYPES))
def test_each_archivable_type_can_be_archived_and_says_so_in_its_events(type_name):
    record_type = RECORD_TYPES[type_name]
    assert issubclass(record_type.model, Archivable)
    for what in ("archived", "restored"):
        topic = record_topic(type_name, what)
        assert topic in TOPICS
        assert payload_keys(topic, type_name)["archivedAt"] == (f"{type_name}.archivedAt",)


def test_a_topic_spells_a_type_as_the_other_topics_do():
    assert record_topic("PriceBook", "archived") == "price_book.archived"


async def test_the_archived_filter_and_the_service(db):
    # given an org with a rep and two customers of theirs
    async with db.write() as session:
        org = await create_org(session, unique("归档公司"), "CNY")
        rep = actor_of(await create_user(session, org.id, email=f"{unique('r').replace(' ', '')}@a.test",
                                         name="销售", roles=["sales_rep"]))
        kept = await create_customer(session, rep, CustomerInput(name="留下"))
        gone = await create_customer(session, rep, CustomerInput(name="归档"))
    # when one is archived through the service
    async with db.write() as session:
        archived = await archive_record(session, rep, "Customer", gone.id)
    assert archived.archived_at is not None and archived.version == gone.version + 1

    async def names(archived: bool | None) -> list[str]:
        async with db.read() as session:
            stmt = listed(select(Customer.name).where(Customer.org_id == org.id), Customer, archived)
            return sorted(await session.scalars(stmt))

    # then the default list leaves it out, True keeps only it, None keeps both
    assert (await names(False), await names(True), await names(None)) == (["留下"], ["归档"], ["归档", "留下"])
    # and restoring brings it back
    async with db.write() as session:
        await restore_record(session, rep, "Customer", gone.id)
    assert await names(False) == ["归档", "留下"]
    # and a customer of another org is not found
    async with db.write() as session:
        other = await create_org(session, unique("别的公司"), "CNY")
        stranger = actor_of(await create_user(session, other.id, email=f"{unique('s').replace(' ', '')}@b.test",
                                              name="外人", roles=["admin"]))
    with pytest.raises(NotFound):
        async with db.write() as session:
            await archive_record(session, stranger, "Customer", kept.id)
