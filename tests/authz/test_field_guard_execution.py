"""How the field guard is wired into execution: it knows every field of every guarded type by its resolver,
and each request decides its own denials, so requests running side by side never see each other's."""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import GraphQLObjectType

from tandem.resolvers.guard import CHECKED_TYPES, guarded_resolvers

OPPORTUNITIES = "{ opportunities(first: 20) { edges { node { id name amount customer { name creditLimit } } } } }"


def nodes(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in result["data"]["opportunities"]["edges"]]


def forbidden(result: dict[str, Any]) -> list[str]:
    return sorted(e["extensions"]["field"] for e in result.get("errors", ())
                  if e["extensions"]["code"] == "FORBIDDEN_FIELD")


def test_every_field_of_every_guarded_type_has_a_resolver_of_its_own(app):
    # given
    schema = app.state.schema._schema
    guarded = {name: t for name, t in schema.type_map.items()
               if name in CHECKED_TYPES and isinstance(t, GraphQLObjectType)}
    # when
    index = guarded_resolvers(schema)
    # then: one resolver per checked Type.field (guarded or derived from a guarded one), each naming its own
    assert guarded
    assert sorted(index.values()) == sorted((name, f) for name, t in guarded.items() for f in t.fields)
    for name, graphql_type in guarded.items():
        for field_name, field in graphql_type.fields.items():
            assert index[field.resolve] == (name, field_name)


async def test_requests_side_by_side_each_get_their_own_denials(gql):
    # when: service (denied amounts and credit limits) and a sales manager (denied neither) read at once
    results = await asyncio.gather(*(gql(OPPORTUNITIES, as_=who) for who in ["service@demo.test",
                                                                             "manager@demo.test"] * 3))
    # then
    for service, manager in zip(results[::2], results[1::2], strict=True):
        assert forbidden(service) == ["Customer.creditLimit", "Opportunity.amount"]
        assert nodes(service) and all(n["amount"] is None and n["customer"]["creditLimit"] is None
                                      for n in nodes(service))
        assert "errors" not in manager
        assert nodes(manager) and all(n["amount"] is not None for n in nodes(manager))
