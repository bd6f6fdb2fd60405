"""Issue 9's leak matrix, query half: for every demo role and every leaf field it may not read, the
value never shows in a query answer, generated from the built schema and the org's policy (the
role's Guard decides which fields are denied, the schema which paths, filters and sorts reach them).

Channels: a root list, an alias, a named and an inline fragment, ``node(id:)``, a nested path from
another type, and filters / sorts / ``totalCount`` used as an oracle. The true value is read as admin
(who reads everything) and must appear nowhere in the role's answer, error messages included.
Read only: the demo data is shared by the whole session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_leaf_type,
)

from tandem.authz.guard import Guard
from tandem.resolvers.guard import CHECKED_TYPES
from tandem.schema.node import to_global_id

ADMIN = "admin@demo.test"
ROLE_USERS = ["manager@demo.test", "rep1@demo.test", "rep2@demo.test", "pm@demo.test", "finance@demo.test",
              "service@demo.test", "marketing@demo.test"]
ROOT_PAGE = 10
NESTED_PAGE = 5
PAGINATION = {"first", "after", "last", "before"}
TRIVIAL = {"", "0", "0.0", "0.00", "true", "false", "null", "none"}
NODE_SAMPLES = 3
TRUTH_BATCH = 20  # node lookups per admin request (aliases count against the limit of 30)

# Filter arguments whose name is not a field of the listed type: what each one reads. Every other
# argument maps by name (``ownerId`` -> ``owner``, ``tag`` -> ``tags``, an order value
# ``EXPECTED_CLOSE_DATE`` -> ``expectedCloseDate``); the oracle test fails on an argument it can map
# neither way, so a new filter gets a line here rather than slipping past the matrix.
TEXT_SEARCH = ("name", "title", "code")  # ``search``: the type's text fields among these
MEANING = {
    "overdue": ("dueDate",),  # open and past its due date
    "unmatched": ("customer", "unallocated"),  # no customer, or money not yet allocated
    "archived": ("archivedAt",),  # archived or not: whether archivedAt is set
}


# --- the schema: root lists, paths, filters ---------------------------------------------------------

@dataclass(frozen=True)
class Step:
    field: str
    connection: bool
    target: str


Path = tuple[Step, ...]


def _target(schema: GraphQLSchema, output: Any) -> tuple[GraphQLObjectType | None, bool]:
    """The object type a field yields, and whether through a Connection (edges { node })."""
    named = get_named_type(output)
    if not isinstance(named, GraphQLObjectType):
        return None, False
    edges = named.fields.get("edges")
    if named.name.endswith("Connection") and edges is not None:
        node = get_named_type(edges.type)
        if isinstance(node, GraphQLObjectType) and "node" in node.fields:
            found = get_named_type(node.fields["node"].type)
            return (found, True) if isinstance(found, GraphQLObjectType) else (None, False)
    return named, False


def _callable_without_arguments(field: Any) -> bool:
    return all(not isinstance(a.type, GraphQLNonNull) or a.default_value is not Undefined for a in field.args.values())


def root_lists(schema: GraphQLSchema) -> dict[str, str]:
    """Record type -> the root Query field listing it as a Connection."""
    out: dict[str, str] = {}
    for name, field in schema.query_type.fields.items():  # type: ignore[union-attr]
        target, connection = _target(schema, field.type)
        if target is not None and connection and _callable_without_arguments(field):
            out.setdefault(target.name, name)
    return out


def reachable(schema: GraphQLSchema) -> dict[str, Path]:
    """The shortest path from a root list to every object type it reaches."""
    paths: dict[str, Path] = {t: (Step(f, True, t),) for t, f in root_lists(schema).items()}
    frontier = list(paths)
    while frontier:
        following = []
        for type_name in frontier:
            for name, field in schema.type_map[type_name].fields.items():  # type: ignore[union-attr]
                target, connection = _target(schema, field.type)
                if target is None or target.name in paths or not _callable_without_arguments(field):
                    continue
                paths[target.name] = (*paths[type_name], Step(name, connection, target.name))
                following.append(target.name)
        frontier = following
    return paths


def nested_paths(schema: GraphQLSchema, type_name: str, paths: dict[str, Path]) -> list[Path]:
    """Every field of another (reachable) type that yields ``type_name``, each reached the shortest way."""
    out = []
    for owner, path in sorted(paths.items()):
        if owner == type_name:
            continue
        for name, field in schema.type_map[owner].fields.items():  # type: ignore[union-attr]
            target, connection = _target(schema, field.type)
            if target is not None and target.name == type_name and _callable_without_arguments(field):
                out.append((*path, Step(name, connection, type_name)))
    return sorted(out, key=len)


def leaves(schema: GraphQLSchema, type_name: str) -> list[str]:
    graphql_type = schema.type_map[type_name]
    return [n for n, f in graphql_type.fields.items() if is_leaf_type(get_named_type(f.type))]  # type: ignore[union-attr]


def has_id(schema: GraphQLSchema, type_name: str) -> bool:
    return "id" in schema.type_map[type_name].fields  # type: ignore[union-attr]


def select(schema: GraphQLSchema, path: Path, inner: str) -> str:
    """``inner`` selected at the end of ``path``, with ``id`` at every level that has one."""
    text = inner
    for depth, step in reversed(list(enumerate(path))):
        own = f"id {text}" if has_id(schema, step.target) and not text.startswith("id ") else text
        page = ROOT_PAGE if depth == 0 else NESTED_PAGE
        text = (f"{step.field}(first: {page}) {{ edges {{ node {{ {own} }} }} }}" if step.connection
                else f"{step.field} {{ {own} }}")
    return text


def found(data: Any, schema: GraphQLSchema, path: Path, anchor: tuple[str, str] | None = None,
          ) -> Iterator[tuple[dict[str, Any], str, str, Path]]:
    """Each object at the end of ``path`` in an answer, with its nearest ancestor-or-self that has an id
    (type, id) and the steps from that ancestor down to it."""

    def walk(value: Any, depth: int, anchor: tuple[str, str] | None, anchor_depth: int) -> Iterator[Any]:
        if value is None:
            return
        step = path[depth]
        items = [e["node"] for e in value["edges"] if e and e.get("node")] if step.connection else (
            value if isinstance(value, list) else [value])
        for item in items:
            if item is None:
                continue
            here, here_depth = anchor, anchor_depth
            if item.get("id"):
                here, here_depth = (step.target, item["id"]), depth + 1
            if depth + 1 == len(path):
                if here is not None:
                    yield item, here[0], here[1], path[here_depth:]
            else:
                yield from walk(item.get(path[depth + 1].field), depth + 1, here, here_depth)

    yield from walk((data or {}).get(path[0].field), 0, anchor, 0)


# --- values -------------------------------------------------------------------------------------------

def spellings(value: Any) -> set[str]:
    """The non-trivial ways a leaf value could be written into an answer."""
    out: set[str] = set()
    if value is None or isinstance(value, bool):
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out |= spellings(key) | spellings(item)
        return out
    if isinstance(value, list):
        for item in value:
            out |= spellings(item)
        return out
    text = str(value)
    out.add(text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        pass
    else:
        if number.is_finite():
            out.add(format(number.normalize(), "f"))
    return {s for s in out if len(s) >= 3 and s.lower() not in TRIVIAL}


def without_ids(value: Any) -> Any:
    """An answer with its ids dropped (a global id is base64: it could spell a number by chance)."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def leaked(body: dict[str, Any], secrets: dict[str, set[str]]) -> list[tuple[str, str]]:
    text = json.dumps(without_ids(body), ensure_ascii=False)
    return [(field, s) for field, values in secrets.items() for s in values
            if re.search(rf"(?<![\w.]){re.escape(s)}(?![\w])", text)]


def forbidden_fields(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["field"] for e in body.get("errors", ())
            if e.get("extensions", {}).get("code") == "FORBIDDEN_FIELD"}


def codes(body: dict[str, Any]) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in body.get("errors", ())}


async def guard_of(app: Any, user: Any) -> Guard:
    """The user's guard, built as the HTTP endpoint builds it."""
    return Guard(await app.state.policies.for_org(user.org_id), frozenset(user.roles))


# --- the matrix ---------------------------------------------------------------------------------------

@dataclass
class Channel:
    name: str
    document: str
    path: Path | None  # None: a node(id:) answer under "node"
    variables: dict[str, Any] | None = None


def channels(schema: GraphQLSchema, type_name: str, fields: list[str], paths: dict[str, Path]) -> list[Channel]:
    """The type's own path (its root list, else the shortest nested one) plainly, under aliases and in
    both kinds of fragment; then every other field that nests the type."""
    direct = paths[type_name]
    plain = " ".join(fields)
    aliased = " ".join(f"leak_{f}: {f}" for f in fields)
    out = [
        Channel("direct", f"{{ {select(schema, direct, plain)} }}", direct),
        Channel("alias", f"{{ {select(schema, direct, aliased)} }}", direct),
        Channel("named fragment", f"{{ {select(schema, direct, '...Leak')} }} fragment Leak on {type_name} "
                                  f"{{ {plain} }}", direct),
        Channel("inline fragment", f"{{ {select(schema, direct, f'... on {type_name} {{ {plain} }}')} }}", direct),
    ]
    out += [Channel("nested", f"{{ {select(schema, path, plain)} }}", path)
            for path in nested_paths(schema, type_name, paths) if path != direct]
    return out


class Truth:
    """What admin reads: each record's values, by (anchor id, steps below it), cached for the session."""

    def __init__(self, gql: Any, schema: GraphQLSchema) -> None:
        self.gql = gql
        self.schema = schema
        self.values: dict[tuple[str, Path, str], list[dict[str, Any]]] = {}
        self.answers: dict[Path, list[dict[str, Any]]] = {}

    async def load(self, type_name: str, anchors: set[tuple[str, str, Path]]) -> None:
        missing = sorted((a for a in anchors if (a[1], a[2], type_name) not in self.values),
                         key=lambda a: (a[0], a[1], len(a[2])))
        for start in range(0, len(missing), TRUTH_BATCH):
            batch = missing[start:start + TRUTH_BATCH]
            every = " ".join(leaves(self.schema, type_name))
            parts = []
            for i, (anchor_type, anchor_id, below) in enumerate(batch):
                inner = select(self.schema, below, every) if below else every
                parts.append(f"a{i}: node(id: {json.dumps(anchor_id)}) {{ ... on {anchor_type} {{ {inner} }} }}")
            body = await self.gql("{ " + " ".join(parts) + " }", as_=ADMIN)
            assert "errors" not in body, body["errors"]
            for i, (_anchor_type, anchor_id, below) in enumerate(batch):
                value = body["data"][f"a{i}"]
                records = [o for o, *_ in found(value, self.schema, below, anchor=("", ""))] if below else [value]
                self.values[(anchor_id, below, type_name)] = [r for r in records if r]

    async def on_paths(self, type_name: str, field: str, paths: list[Path]) -> set[str]:
        """The spellings of ``field`` in what admin reads on the same paths (its own first pages)."""
        out: set[str] = set()
        for path in paths:
            answer = self.answers.get(path)
            if answer is None:
                every = " ".join(leaves(self.schema, type_name))
                body = await self.gql(f"{{ {select(self.schema, path, every)} }}", as_=ADMIN)
                assert "errors" not in body, body["errors"]
                answer = self.answers[path] = [o for o, *_ in found(body["data"], self.schema, path, ("", ""))]
            for record in answer:
                out |= spellings(record.get(field))
        return out

    def of(self, anchor_id: str, below: Path, type_name: str, field: str) -> set[str]:
        """The spellings of ``field`` in the records admin reads at ``below`` under the anchor."""
        out: set[str] = set()
        for record in self.values.get((anchor_id, below, type_name), ()):
            out |= spellings(record.get(field))
        return out


@pytest.fixture(scope="module")
def truth(gql: Any, app: Any) -> Truth:
    return Truth(gql, app.state.schema._schema)


@pytest.mark.parametrize("email", ROLE_USERS)
async def test_a_denied_field_is_null_reported_and_its_value_absent_on_every_query_channel(
        email, app, gql, users, truth):
    schema: GraphQLSchema = app.state.schema._schema
    guard = await guard_of(app, users[email])
    paths = reachable(schema)
    shown_values = 0
    for type_name in sorted(CHECKED_TYPES & paths.keys()):
        # given: the leaf fields of the type this role may not read
        denied = [f for f in leaves(schema, type_name) if not guard.can_read(type_name, f)]
        if not denied:
            continue
        # when: asked for on every path, then by node(id:) for the records those paths showed
        answers: list[tuple[Channel, dict[str, Any]]] = []
        for channel in channels(schema, type_name, denied, paths):
            answers.append((channel, await gql(channel.document, as_=email)))
        anchors = {(t, i, below) for channel, body in answers
                   for _o, t, i, below in found(body.get("data"), schema, channel.path)}  # type: ignore[arg-type]
        await truth.load(type_name, anchors)
        own_ids = sorted({i for t, i, below in anchors if t == type_name and not below})
        samples = sorted(own_ids, key=lambda i: -sum(bool(truth.of(i, (), type_name, f)) for f in denied))
        for record_id in samples[:NODE_SAMPLES]:
            document = f"query ($id: ID!) {{ node(id: $id) {{ id ... on {type_name} {{ {' '.join(denied)} }} }} }}"
            answers.append((Channel("node", document, None, {"id": record_id}),
                            await gql(document, {"id": record_id}, as_=email)))
        # the true values: of the records the role was shown, and of those admin sees on the same paths
        secrets: dict[str, set[str]] = {}
        for f in denied:
            mine = set().union(*(truth.of(i, below, type_name, f) for _t, i, below in anchors))
            shown_values += bool(mine)
            secrets[f"{type_name}.{f}"] = mine | await truth.on_paths(
                type_name, f, [c.path for c, _ in answers if c.path is not None])
        # then
        for channel, body in answers:
            where = f"{email} {type_name} {channel.name}: {channel.document} {channel.variables or ''}"
            if channel.path is None:
                records = [body["data"]["node"]] if (body.get("data") or {}).get("node") else []
            else:
                assert body.get("data") is not None, (where, body)
                records = [o for o, *_ in found(body["data"], schema, channel.path)]
            for record in records:
                shown = {f: record.get(f"leak_{f}" if channel.name == "alias" else f) for f in denied}
                assert shown == dict.fromkeys(denied), (where, shown)
            if records:
                assert {f"{type_name}.{f}" for f in denied} <= forbidden_fields(body), (where, body.get("errors"))
            assert not leaked(body, secrets), (where, leaked(body, secrets), body)
    assert shown_values, "no denied field of any record this role sees has a value to look for"


# --- filters and sorts as oracles ---------------------------------------------------------------------

def _normalize(name: str) -> str:
    """``ownerId`` -> ``owner``, ``EXPECTED_CLOSE_DATE`` -> ``expectedCloseDate``."""
    if "_" in name or name.isupper():
        head, *rest = name.lower().split("_")
        name = head + "".join(p.title() for p in rest)
    return name[:-2] if name.endswith("Id") and len(name) > 2 else name


def reads(schema: GraphQLSchema, type_name: str, name: str) -> tuple[str, ...]:
    """The fields of ``type_name`` a filter or sort argument called ``name`` reads."""
    fields = schema.type_map[type_name].fields  # type: ignore[union-attr]
    field = _normalize(name)
    if field in fields:
        return (field,)
    if f"{field}s" in fields:
        return (f"{field}s",)
    if name == "search":
        return tuple(f for f in TEXT_SEARCH if f in fields)
    return tuple(f for f in MEANING.get(name, ()) if f in fields)


def sample(schema: GraphQLSchema, arg_type: Any, type_name: str, field: str) -> str:
    """A literal of ``arg_type`` (an ID: a global id of the type the field refers to)."""
    named = get_named_type(arg_type)
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if named.name == "ID":
        target, _ = _target(schema, schema.type_map[type_name].fields[field].type)  # type: ignore[union-attr]
        return json.dumps(to_global_id(target.name if target else type_name, 1))
    if named.name == "Boolean":
        return "true"
    if named.name == "Int":
        return "1"
    if named.name == "Date":
        return json.dumps(date.today().isoformat())
    return json.dumps("ab")


@dataclass(frozen=True)
class Oracle:
    root: str
    type_name: str
    argument: str  # the literal argument, e.g. ``filter: {ownerId: "..."}``
    fields: tuple[str, ...]


def oracles(schema: GraphQLSchema) -> list[Oracle]:
    """Every filter value and sort key of every root list, with the fields it reads."""
    out = []
    for type_name, root in sorted(root_lists(schema).items()):
        if type_name not in CHECKED_TYPES:
            continue
        for arg_name, arg in schema.query_type.fields[root].args.items():  # type: ignore[union-attr]
            if arg_name in PAGINATION:
                continue
            named = get_named_type(arg.type)
            if not isinstance(named, GraphQLInputObjectType):
                fields = reads(schema, type_name, arg_name)
                literal = sample(schema, arg.type, type_name, fields[0]) if fields else "null"
                out.append(Oracle(root, type_name, f"{arg_name}: {literal}", fields))
                continue
            sort_key = named.fields.get("field")
            if sort_key is not None and isinstance(get_named_type(sort_key.type), GraphQLEnumType):
                for value in get_named_type(sort_key.type).values:  # type: ignore[union-attr]
                    out.append(Oracle(root, type_name, f"{arg_name}: {{field: {value}}}",
                                      reads(schema, type_name, value)))
                continue
            for name, input_field in named.fields.items():
                fields = reads(schema, type_name, name)
                literal = sample(schema, input_field.type, type_name, fields[0]) if fields else "null"
                out.append(Oracle(root, type_name, f"{arg_name}: {{{name}: {literal}}}", fields))
    return out


def test_every_filter_and_sort_argument_maps_to_a_field(app):
    # given
    schema = app.state.schema._schema
    # when
    unmapped = [o.argument for o in oracles(schema) if not o.fields]
    # then
    assert oracles(schema)
    assert unmapped == []


@pytest.mark.parametrize("email", ROLE_USERS)
async def test_filtering_or_sorting_by_a_denied_field_is_refused_without_a_count(email, app, gql, users):
    schema: GraphQLSchema = app.state.schema._schema
    guard = await guard_of(app, users[email])
    answered = []
    for oracle in oracles(schema):
        if all(guard.can_read(oracle.type_name, f) for f in oracle.fields):
            continue
        # when
        document = (f"{{ {oracle.root}(first: {ROOT_PAGE}, {oracle.argument}) "
                    "{ totalCount edges { node { id } } } }")
        body = await gql(document, as_=email)
        # then: refused, with no count and no rows
        refused = "FORBIDDEN" in codes(body) and (body.get("data") or {}).get(oracle.root) is None
        if not refused or "totalCount" in json.dumps(body):
            answered.append(f"{document} -> {json.dumps(body)}")
    assert not answered, "\n".join(answered)
