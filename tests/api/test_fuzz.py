"""Fuzzing: valid queries and mutations generated from the schema (hypothesis-graphql, derandomized, bounded)
are sent over HTTP as a sales rep and as finance. Whatever they ask, the answer is never INTERNAL, never a 5xx,
and the worker still answers afterwards. Failing documents found this way live on as fixed cases in
test_fuzz_regressions.py.

Fuzzed mutations write, so they run in a sandbox (conftest.py): an app and database of this module's own.
"""

from __future__ import annotations

import json
import string
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from tandem.graphql import build_schema
from tandem.schema.node import to_global_id
from tandem.settings import Settings

ROLES = ("rep1@demo.test", "finance@demo.test")
PER_QUERY_FIELD = 2  # 35 query fields
PER_MUTATION_FIELD = 4  # 70 mutation fields: about 330 documents, 660 requests
SEED = 20261207


def _json_node(value: Any) -> graphql.ValueNode:
    if isinstance(value, dict):
        return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v))
                             for k, v in value.items()])
    if isinstance(value, list):
        return nodes.List([_json_node(v) for v in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if value is None:
        return nodes.Null
    return nodes.String(value)


# Mostly clean text, words the API knows and small numbers, so operations get past input checks; sometimes
# text known to break things (NUL, control characters, LIKE wildcards, very long) or anything at all.
CLEAN_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), include_characters="\t\n"),
                     max_size=16)
KNOWN_WORDS = st.sampled_from(["", "CNY", "USD", "proposal", "negotiation", "won", "lost", "region", "budget",
                               "competitor", "SAP", "rep", "finance", "admin", "customer", "rep1@demo.test"])
NASTY_TEXT = st.sampled_from(["\x00", "a\x00b", "\x01", "\x1f", "\x7f", "\x85", "\ufeff", "\u202e", "%", "_",
                              "\\", "' OR 1=1 --", "😀" * 40, "x" * 600]) | st.text(max_size=8)
TEXT = st.one_of(CLEAN_TEXT, KNOWN_WORDS, NASTY_TEXT)
INT = st.one_of(st.integers(1, 20), st.integers(0, 3), st.integers(-(2**31), 2**31 - 1))
JSON_KEYS = st.text(string.ascii_letters + "_", min_size=1, max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=3),
    max_leaves=6,
)


def _id_types(schema: graphql.GraphQLSchema, field: graphql.GraphQLField, name: str) -> list[str]:
    """The record types an operation's ids most likely name: those in its own name and in its ``…Id`` inputs
    (``updateCustomer``, ``customerId`` → Customer); users always; every type when that finds nothing else."""
    node_types = {t.name for t in schema.type_map.values()
                  if isinstance(t, graphql.GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)}
    words = {name.lower()}
    seen: set[str] = set()
    pending = [arg.type for arg in field.args.values()]
    words.update(arg_name.lower() for arg_name in field.args)
    while pending:
        named = graphql.get_named_type(pending.pop())
        if isinstance(named, graphql.GraphQLInputObjectType) and named.name not in seen:
            seen.add(named.name)
            words.update(f.lower() for f in named.fields)
            pending.extend(f.type for f in named.fields.values())
    found = {t for t in node_types if any(t.lower() in word for word in words)}
    return sorted(found | {"User"}) if found else sorted(node_types)


def _ids(types: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    """Mostly real global ids of seeded records (so operations reach past the lookup), sometimes garbage."""
    real = st.builds(to_global_id, st.sampled_from(types), st.integers(1, 40))
    return st.one_of(real, real, CLEAN_TEXT).map(nodes.String)


SCALARS = {
    "String": TEXT.map(nodes.String),
    "Int": INT.map(nodes.Int),
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "DateTime": st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: nodes.String(format(d, "f"))),
    "JSON": st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=3).map(_json_node),
}


def _documents(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """``count`` documents drawn reproducibly (same seed, same documents on every run and backend)."""
    drawn: list[str] = []

    @seed(SEED)
    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(document: str) -> None:
        drawn.append(document)

    collect()
    return list(dict.fromkeys(drawn))


Operation = tuple[str, dict[str, Any]]


def as_variables(document: str, root: graphql.GraphQLObjectType) -> Operation:
    """The same operation with each root field's arguments sent as variables, as clients do (variables are
    coerced by a different path than literals)."""
    ast = graphql.parse(document)
    [operation] = ast.definitions
    assert isinstance(operation, graphql.OperationDefinitionNode)
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict[str, Any] = {}
    selections = []
    for selection in operation.selection_set.selections:
        assert isinstance(selection, graphql.FieldNode)
        arguments = []
        for argument in selection.arguments or ():
            variable = graphql.VariableNode(name=graphql.NameNode(value=f"v{len(variables)}"))
            variables[variable.name.value] = graphql.value_from_ast_untyped(argument.value)
            arg_type = graphql.parse_type(str(root.fields[selection.name.value].args[argument.name.value].type))
            definitions.append(graphql.VariableDefinitionNode(variable=variable, type=arg_type))
            arguments.append(graphql.ArgumentNode(name=argument.name, value=variable))
        selections.append(replace(selection, arguments=tuple(arguments)))
    operation = replace(operation, variable_definitions=tuple(definitions),
                        selection_set=replace(operation.selection_set, selections=tuple(selections)))
    ast = replace(ast, definitions=(operation,))
    return graphql.print_ast(ast), variables


def generate(sdl: str, kind: str, per_field: int) -> list[Operation]:
    """``per_field`` operations for each root field of ``kind`` (one root field each, so one failure does not
    hide the others), with ids of the types that field is about; every other one with its arguments sent as
    variables."""
    schema = graphql.build_schema(sdl)
    root, strategy = (schema.query_type, queries) if kind == "query" else (schema.mutation_type, mutations)
    assert root is not None
    found: list[Operation] = []
    for name, field in root.fields.items():
        scalars = {**SCALARS, "ID": _ids(_id_types(schema, field, name))}
        for index, document in enumerate(_documents(strategy(sdl, fields=[name], custom_scalars=scalars), per_field)):
            found.append(as_variables(document, root) if index % 2 else (document, {}))
    return found


@pytest.fixture(scope="module")
def documents() -> dict[str, list[Operation]]:
    sdl = build_schema(Settings()).as_str()
    return {"query": generate(sdl, "query", PER_QUERY_FIELD), "mutation": generate(sdl, "mutation", PER_MUTATION_FIELD)}


def _outcome(response: httpx.Response) -> tuple[str, str | None]:
    """The answer's first error code (or "ok"), and what went wrong if it is a failure."""
    if response.status_code >= 500:
        return f"HTTP {response.status_code}", response.text[:300]
    try:
        body = response.json()
    except ValueError:
        return "not JSON", response.text[:300]
    errors = body.get("errors", []) if isinstance(body, dict) else []
    codes = [(e.get("extensions") or {}).get("code") for e in errors]
    internal = [e.get("path") for e, code in zip(errors, codes, strict=True) if code == "INTERNAL"]
    if internal:
        return "INTERNAL", f"INTERNAL at {internal}"
    return (str(codes[0]) if codes else "ok"), None


@pytest.mark.parametrize("kind", ["query", "mutation"])
async def test_generated_operations_never_fail_internally(sandbox, documents, kind):
    # given documents generated from the schema, and the two roles
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    # when each is sent as each role
    for document, variables in documents[kind]:
        for email in ROLES:
            response = await sandbox.post(document, variables, as_=email)
            outcome, problem = _outcome(response)
            outcomes[outcome] += 1
            if problem:
                failures.append(f"as {email}: {problem}\n{document}\nvariables: {json.dumps(variables)}")
    sent = sum(outcomes.values())
    print(f"\nfuzz {kind}: {len(documents[kind])} documents, {sent} requests in {time.monotonic() - started:.1f}s: "
          + ", ".join(f"{code} {n}" for code, n in outcomes.most_common()))
    # then nothing failed unexpectedly, and the worker still answers
    assert not failures, f"{len(failures)} of {sent} requests failed:\n\n" + "\n\n".join(failures[:20])
    assert (await sandbox.http.get("/healthz")).status_code == 200
    alive = await sandbox.post("{ __typename }", as_=ROLES[0])
    assert alive.json() == {"data": {"__typename": "Query"}}
