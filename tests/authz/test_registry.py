"""The record-type registry agrees with the schema and the models: every type the schema can fetch by
global id is declared there exactly once, with a tenant model, and every reference between
declarations (row scopes, timelines) names a declared type (the fields they name: test_event_leaks).
A new record type is one entry: these fail until it has one."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLObjectType, build_schema

from tandem.domain.registry import NODE_TYPES, OWNED_TYPES, RECORD_TYPES, TIMELINE_TYPES

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8"))


def test_every_node_of_the_schema_is_a_registry_type():
    # given
    nodes = {name for name, t in SCHEMA.type_map.items()
             if isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)}
    # then
    assert nodes == set(NODE_TYPES)


@pytest.mark.parametrize("type_name", sorted(RECORD_TYPES))
def test_registry_type_is_a_schema_type_with_a_tenant_model(type_name):
    # given
    record_type = RECORD_TYPES[type_name]
    # then
    assert isinstance(SCHEMA.get_type(type_name), GraphQLObjectType)
    if record_type.model is not None and type_name != "Org":
        assert "org_id" in record_type.model.__table__.c
    if type_name in OWNED_TYPES:
        assert "owner_id" in record_type.model.__table__.c
    if record_type.scope is not None:
        assert record_type.scope in RECORD_TYPES
    if type_name in TIMELINE_TYPES:
        assert type_name in NODE_TYPES

