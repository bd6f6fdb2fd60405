"""Ids in event data are global ids, as every typed field of the API gives them: each payload key the
registry declares an id (``domain/registry/payloads.py``: REFERENCES, SHAPE_NODES, ITEMS and ``recordId``)
reaches the reader as the global id of its record type, in timelines, the change feed and ``changeEvents``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from graphql import GraphQLObjectType

from tandem.domain.registry import ITEMS, RECORD_ID, RECORD_TYPES, REFERENCES, SHAPE_NODES, SHAPES, TOPICS, Nested
from tandem.graphql import build_schema
from tandem.resolvers.events import cut
from tandem.schema.node import to_global_id
from tandem.settings import Settings
from tests.factories.api.crm import new_opportunity, post_comment
from tests.factories.realtime import CHANGE_FEED, COMMENT_THREAD, connect, feed_end

NAMED_LIKE_AN_ID = re.compile(r"(Id|Ids)$|^mentions$")


def _node_types() -> set[str]:
    schema = build_schema(Settings())._schema
    return {name for name, t in schema.type_map.items()
            if isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)}


def _declared_keys() -> set[str]:
    keys = {key for shape in SHAPES.values() for key in shape}
    keys |= {key for topic in TOPICS.values() for key in topic.keys}
    return keys


def test_every_record_type_an_id_key_names_is_a_node_type():
    # given the schema's Node types, and the record types read only inside another (a ticket's messages: the
    # registry says node=False; their API type gives the same global ids, under the record they belong to)
    nodes = _node_types()
    pieces = {t.name for t in RECORD_TYPES.values() if not t.node}

    # then every type the registry gives an id key (and every shape's own id) is one of them
    named = set(REFERENCES.values()) | set(ITEMS.values())
    named |= {SHAPE_NODES.get(shape, shape) for shape in SHAPES} - {None}
    assert named - nodes - pieces == set()


def test_every_declared_payload_key_named_like_an_id_is_declared_as_one():
    # given every key a shape or a topic declares, and the keys of the items lists carry
    keys = _declared_keys() | {"invoiceId"}

    # then each one named like an id says which record type it is an id of
    assert {k for k in keys if NAMED_LIKE_AN_ID.search(k)} - set(REFERENCES) - {RECORD_ID} == set()
    assert all(not isinstance(SHAPES[shape].get(key), Nested) for shape in SHAPES for key in REFERENCES)


class ReadsEverything:
    def can_read(self, _type: str, _field: str) -> bool:
        return True


@pytest.mark.parametrize(("topic", "record_type", "payload", "expected"), [
    ("comment.added", "Comment",
     {"id": 5, "recordType": "Opportunity", "recordId": 8, "authorId": 2, "mentions": [3, 4], "body": "hi",
      "parentId": None, "version": 1},
     {"id": to_global_id("Comment", 5), "recordType": "Opportunity", "recordId": to_global_id("Opportunity", 8),
      "authorId": to_global_id("User", 2), "mentions": [to_global_id("User", 3), to_global_id("User", 4)],
      "body": "hi", "parentId": None, "version": 1}),
    ("opportunity.updated", "Opportunity",
     {"id": 8, "version": 3, "changes": {"owner_id": [2, 3], "next_step": [None, "call 42"]}, "quoteId": 7},
     {"id": to_global_id("Opportunity", 8), "version": 3, "quoteId": to_global_id("Quote", 7),
      "changes": {"owner_id": [to_global_id("User", 2), to_global_id("User", 3)], "next_step": [None, "call 42"]}}),
    ("contract.payment_plan_set", "Contract",
     {"id": 4, "installments": [{"id": 11, "amount": "5.00", "position": 1}], "ownerId": 2},
     {"id": to_global_id("Contract", 4), "installments": [{"id": to_global_id("Installment", 11), "amount": "5.00",
                                                            "position": 1}], "ownerId": to_global_id("User", 2)}),
    ("payment.allocated", "Payment",
     {"id": 6, "customerId": 9, "allocations": [{"id": 12, "invoiceId": 13, "amount": "1.00"}]},
     {"id": to_global_id("Payment", 6), "customerId": to_global_id("Customer", 9),
      "allocations": [{"id": to_global_id("PaymentAllocation", 12), "invoiceId": to_global_id("Invoice", 13),
                       "amount": "1.00"}]}),
    ("task.created", "Task",
     {"id": 21, "task": {"id": 22, "assigneeId": 2, "projectId": 21, "durationDays": 5}},
     {"id": to_global_id("Project", 21), "task": {"id": to_global_id("Task", 22), "assigneeId": to_global_id("User", 2),
                                                  "projectId": to_global_id("Project", 21), "durationDays": 5}}),
    ("contract.terminated", "Contract",
     {"id": 4, "cancelledInstallments": 2, "reason": "late"},
     {"id": to_global_id("Contract", 4), "cancelledInstallments": 2, "reason": "late"}),
], ids=["comment", "changes", "installments", "allocations", "nested task", "counts stay counts"])
def test_ids_in_a_payload_are_delivered_as_global_ids(topic, record_type, payload, expected):
    # when
    delivered = cut(ReadsEverything(), topic, record_type, payload)

    # then
    assert delivered == expected


async def test_a_live_comment_and_a_new_opportunity_carry_global_ids(app: Any, gql: Any, users: dict) -> None:
    # given rep1 follows the change feed and an opportunity's comment thread from now on
    after = await feed_end(gql, app, as_="rep1@demo.test")
    async with connect(app, gql.token("rep1@demo.test")) as socket:
        await socket.subscribe("feed", CHANGE_FEED, {"types": ["Opportunity"], "after": after})
        opportunity = await new_opportunity(gql)
        await socket.subscribe("thread", COMMENT_THREAD, {"recordId": opportunity["id"], "after": after})

        # when rep1 mentions the manager in a comment
        comment = await post_comment(gql, opportunity["id"], "@manager@demo.test please price this")
        await app.state.relay.drain()
        [created] = await socket.events("feed", 1, "changeFeed")
        [entry] = await socket.events("thread", 1, "commentThread")

    # then the data's ids are the same global ids the typed fields carry
    rep1, manager = (to_global_id("User", users[e].id) for e in ("rep1@demo.test", "manager@demo.test"))
    assert (created["payload"]["id"], created["payload"]["ownerId"], created["payload"]["customerId"]) == (
        opportunity["id"], rep1, opportunity["customerId"])
    assert (entry["data"]["id"], entry["data"]["recordId"], entry["data"]["authorId"], entry["data"]["mentions"]) == (
        comment, opportunity["id"], rep1, [manager])
    assert entry["recordId"] == comment
