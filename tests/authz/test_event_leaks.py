"""Deny by default where events leave: every topic the code can emit is declared key by key in the
record-type registry, and no role receives, through `changeEvents`, `changeFeed` or a timeline
summary, a value of a field it may not read. Generated from the code, the registry and the policy;
nothing here lists topics, fields or roles by hand."""

from __future__ import annotations

import ast
import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType
from sqlalchemy import select

from tandem.authz.guard import Guard
from tandem.domain.collaboration.timeline import describe
from tandem.domain.registry import (
    ARCHIVABLE_TYPES,
    RECORD_TYPES,
    REFERENCES,
    SHAPES,
    TOPICS,
    Changes,
    Keyed,
    Nested,
    Paths,
    archive_topics,
    governing_fields,
    path_governs,
    payload_keys,
    shape_key,
)
from tandem.domain.shared.outbox import OutboxEvent
from tandem.schema.node import from_global_id
from tests.factories.realtime import CHANGE_FEED, TIMELINE, connect

ROOT = Path(__file__).resolve().parents[2]
DEMO = ["admin@demo.test", "manager@demo.test", "rep1@demo.test", "rep2@demo.test", "pm@demo.test",
        "finance@demo.test", "service@demo.test", "marketing@demo.test"]
TOPIC = re.compile(r"^[a-z_]+\.[a-z_]+$")


# --- what the code can emit -------------------------------------------------------------------


def emitted_topics() -> dict[str, str]:
    """Every topic literal handed to an event-recording call in ``domain/`` and ``authz/`` (policy
    changes) (``record_event``, ``project_event``, ``emit``, any call given a ``topic=``: ``hand_over``...),
    with where it is emitted."""
    found: dict[str, str] = {}
    for path in sorted([*(ROOT / "domain").rglob("*.py"), *(ROOT / "authz").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            if not (name.endswith("event") or name == "emit" or any(k.arg == "topic" for k in node.keywords)):
                continue
            for arg in [*node.args, *(k.value for k in node.keywords if k.arg == "topic")]:
                assert not isinstance(arg, ast.JoinedStr), \
                    f"{path.relative_to(ROOT)}:{node.lineno}: a topic must be a literal the registry can declare"
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and TOPIC.match(sub.value):
                        found.setdefault(sub.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    # archiving emits `<type>.archived` / `<type>.restored` for each type the registry marks archivable, and
    # the registry declares exactly those (domain/registry/archive.py)
    for topic in archive_topics(sorted(ARCHIVABLE_TYPES)):
        found.setdefault(topic, "domain/registry/archive.py")
    return found


def test_every_topic_the_code_emits_is_declared_and_every_declared_topic_is_emitted() -> None:
    emitted = emitted_topics()
    assert len(emitted) > 60  # the scan sees the code (a broken scan would pass everything)
    undeclared = {t: where for t, where in emitted.items() if t not in TOPICS}
    assert not undeclared, f"declare these topics in domain/registry/payloads.py: {undeclared}"
    assert not set(TOPICS) - set(emitted), "declared topics nothing emits (stale declarations)"


def test_every_governing_field_is_a_field_of_the_schema(app: Any) -> None:
    type_map = app.state.schema._schema.type_map
    missing = []
    for name in sorted(governing_fields()):
        type_name, field_name = name.split(".", 1)
        graphql_type = type_map.get(type_name)
        if not isinstance(graphql_type, GraphQLObjectType) or field_name not in graphql_type.fields:
            missing.append(name)
    assert not missing, f"payload declarations name fields the schema lacks: {missing}"


async def _raw_events(db: Any, org_id: int) -> dict[int, OutboxEvent]:
    async with db.read() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.org_id == org_id))
        return {r.id: r for r in rows}


def _undeclared(keys: dict[str, Any], payload: dict[str, Any], where: str) -> list[str]:
    out = []
    for key, value in payload.items():
        declared = keys.get(key)
        if declared is None:
            out.append(f"{where}.{key}")
        elif isinstance(declared, Nested):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    out += _undeclared(SHAPES[declared.shape], item, f"{where}.{key}")
        elif isinstance(declared, Changes) and isinstance(value, dict):
            out += [f"{where}.{key}.{k}" for k in value if shape_key(declared.shape, k) is None]
    return out


async def test_every_key_the_recorded_events_carry_is_declared(db: Any, users: dict, cost_overrun: Any) -> None:
    """Completeness: a key the registry does not name is never delivered, so a missing declaration
    silently drops data; every event recorded so far (the demo history and the scenario) is covered."""
    events = await _raw_events(db, users["admin@demo.test"].org_id)
    assert {e.topic for e in events.values()} >= {"project.cost_risk", "expense.added", "change.requested"}
    undeclared = sorted({k for e in events.values()
                         for k in _undeclared(payload_keys(e.topic, e.record_type), e.payload, e.topic)})
    assert not undeclared, f"payload keys no declaration names (they are dropped): {undeclared}"


# --- derived fields -----------------------------------------------------------------------------


async def _guard(app: Any, user: Any) -> Guard:
    return Guard(await app.state.policies.for_org(user.org_id), frozenset(user.roles))


async def test_no_role_reads_a_copied_or_derived_field_without_every_source(app: Any, users: dict) -> None:
    derived = {f"{t.name}.{f}": sources for t in RECORD_TYPES.values() for f, sources in t.derived.items()}
    assert "Project.budget" in derived
    for email in DEMO:
        guard = await _guard(app, users[email])
        for copy, sources in derived.items():
            if guard.can_read(*copy.split(".", 1)):
                unreadable = [s for s in sources if not guard.can_read(*s.split(".", 1))]
                assert not unreadable, f"{email} reads {copy} but not its source {unreadable}"


PROJECT_BUDGET = """
query { projects(first: 50) { edges { node { id budget changeRequests { budgetBefore budgetDelta } } } } }"""


async def test_the_project_budget_is_hidden_from_whoever_may_not_read_the_deal_or_contract_amount(gql: Any) -> None:
    service = await gql(PROJECT_BUDGET, as_="service@demo.test")
    nodes = [e["node"] for e in service["data"]["projects"]["edges"]]
    assert nodes and all(n["budget"] is None for n in nodes)
    denied = {e["extensions"]["field"] for e in service["errors"] if e["extensions"]["code"] == "FORBIDDEN_FIELD"}
    assert "Project.budget" in denied
    assert "98000.00" not in json.dumps(service) and "640000.00" not in json.dumps(service)
    for email in ("pm@demo.test", "rep1@demo.test", "finance@demo.test"):
        seen = await gql(PROJECT_BUDGET, as_=email)
        assert "errors" not in seen, seen
        budgets = [e["node"]["budget"] for e in seen["data"]["projects"]["edges"]]
        assert budgets and all(Decimal(b) > 0 for b in budgets)


# --- the cost-overrun reproduction and the matrix over every recorded event ---------------------

REP1_PROJECTS = """
query { projects(first: 50) { edges { node { id number costRisk opportunity { owner { email } } } } } }"""

ADD_EXPENSE = """
mutation ($input: AddExpenseInput!) { addExpense(input: $input) { userErrors { field code message } } }"""

REQUEST_CHANGE = """
mutation ($input: RequestChangeInput!) {
  requestChange(input: $input) { changeRequest { id } userErrors { field code message } } }"""


@pytest.fixture(scope="module")
async def cost_overrun(gql: Any) -> dict[str, Any]:
    """As admin, a 5,000,000 expense on a project of rep1's deal (the project turns cost-risky) and a
    budget change request on it."""
    page = await gql(REP1_PROJECTS, as_="rep1@demo.test")
    projects = [e["node"] for e in page["data"]["projects"]["edges"]
                if (e["node"]["opportunity"] or {}).get("owner", {}).get("email") == "rep1@demo.test"]
    assert projects, page
    project = next((p for p in projects if not p["costRisk"]), projects[0])
    tag = uuid.uuid4().hex[:8]
    added = await gql(ADD_EXPENSE, {"input": {"projectId": project["id"], "amount": "5000000",
                                              "description": f"Overrun {tag}", "category": "hardware"}},
                      as_="admin@demo.test")
    assert added["data"]["addExpense"]["userErrors"] == [], added
    change = await gql(REQUEST_CHANGE, {"input": {"projectId": project["id"], "title": f"Scope {tag}",
                                                  "reason": "more modules", "budgetDelta": "123457"}},
                       as_="admin@demo.test")
    assert change["data"]["requestChange"]["userErrors"] == [], change
    return project


FEED = """
query ($after: String) {
  changeEvents(after: $after, first: 500) { endCursor hasMore events { eventId topic recordType payload } }
}"""


async def _feed(gql: Any, email: str) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        page = (await gql(FEED, {"after": after}, as_=email))["data"]["changeEvents"]
        out += page["events"]
        if not page["hasMore"]:
            return out
        after = page["endCursor"]


def _leaves(value: Any) -> list[str]:
    """The values in a payload value a reader could recognise: text and figures, not flags or ids."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    if value is None or isinstance(value, bool):
        return []
    text = str(value)
    if isinstance(value, int) or re.fullmatch(r"-?\d+", text):
        return [text] if abs(int(text)) >= 10_000 else []
    if re.fullmatch(r"-?\d+\.\d+", text):
        return [text] if Decimal(text) != 0 and len(text) >= 5 else []
    return [text] if len(text) >= 4 else []


def _split_keyed(guard: Guard, declared: Keyed, value: Any) -> tuple[set[str], set[str]]:
    """(hidden, shown) values of a dict of fields of their own (custom fields), each key its own field."""
    record_type, field = declared.governs.split(".", 1)
    hidden: set[str] = set()
    shown: set[str] = set()
    for k, v in (value or {}).items() if isinstance(value, dict) else ():
        (shown if guard.can_read(record_type, f"{field}.{k}") else hidden).update(_leaves(v))
    return hidden, shown


def _split(guard: Guard, keys: dict[str, Any], payload: dict[str, Any],
           record_type: str | None = None) -> tuple[set[str], set[str]]:
    """The recognisable values of a raw payload the reader may not read (or that nothing declares),
    and those it may (``record_type``: the event's, which a ``Paths`` key's field paths start from)."""

    def readable(governs: tuple[str, ...]) -> bool:
        return all(guard.can_read(*g.split(".", 1)) for g in governs)

    hidden: set[str] = set()
    shown: set[str] = set()
    for key, value in payload.items():
        declared = keys.get(key)
        if declared is None:
            hidden.update(_leaves(value))
        elif isinstance(declared, Nested):
            if not readable(declared.governs):
                hidden.update(_leaves(value))
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    h, s = _split(guard, SHAPES[declared.shape], item)
                    hidden |= h
                    shown |= s
        elif isinstance(declared, Keyed):
            h, s = _split_keyed(guard, declared, value)
            hidden |= h
            shown |= s
        elif isinstance(declared, Paths):
            for path, v in value.items() if isinstance(value, dict) else ():
                governs = path_governs(record_type, path) if record_type else None
                (shown if governs is not None and readable(governs) else hidden).update(_leaves(v))
        elif isinstance(declared, Changes):
            for k, v in (value or {}).items():
                d = shape_key(declared.shape, k)
                if isinstance(d, Keyed):
                    for side in v if isinstance(v, list) else [v]:
                        h, s = _split_keyed(guard, d, side)
                        hidden |= h
                        shown |= s
                    continue
                (shown if isinstance(d, tuple) and readable(d) else hidden).update(_leaves(v))
        else:
            (shown if readable(declared) else hidden).update(_leaves(value))
    return hidden, shown


@pytest.mark.parametrize("email", DEMO)
async def test_no_event_or_summary_carries_a_value_the_reader_may_not_read(
        app: Any, db: Any, gql: Any, users: dict, cost_overrun: Any, email: str) -> None:
    raw = await _raw_events(db, users[email].org_id)
    guard = await _guard(app, users[email])
    delivered = await _feed(gql, email)  # (earlier tests may have moved the clock past retention)
    checked = 0
    for event in delivered:
        _, event_id = from_global_id(event["eventId"])
        source = raw[event_id]
        keys = payload_keys(source.topic, source.record_type)
        hidden, shown = _split(guard, keys, source.payload, source.record_type)
        hidden -= shown  # a value the reader may read under another key of the event is no secret
        _, summary = describe(event["topic"], event["recordType"], event["payload"])
        assert "None" not in summary, (event["topic"], summary)
        text = json.dumps(event["payload"], ensure_ascii=False) + "\n" + summary
        leaked = sorted(v for v in hidden if v in text)
        assert not leaked, f"{email} received {leaked} in {event['topic']}: {text}"
        checked += len(hidden)
    if email in ("rep1@demo.test", "service@demo.test"):
        assert checked, "the scenario gives this role hidden values to look for"


async def test_a_cost_overrun_reaches_sales_and_service_without_its_figures(
        app: Any, gql: Any, users: dict, cost_overrun: Any) -> None:
    """The probe's reproduction: `project.cost_risk` told rep1 and service the forecast and the budget."""
    for email in ("rep1@demo.test", "service@demo.test"):
        risks = [e for e in await _feed(gql, email) if e["topic"] == "project.cost_risk"]
        assert risks, email
        for risk in risks:
            assert "estimateAtCompletion" not in risk["payload"] and "budget" not in risk["payload"]
            _, summary = describe(risk["topic"], risk["recordType"], risk["payload"])
            assert summary.endswith("is forecast over budget"), summary
    admin = [e for e in await _feed(gql, "admin@demo.test") if e["topic"] == "project.cost_risk"]
    assert admin and admin[-1]["payload"]["estimateAtCompletion"]
    _, summary = describe("project.cost_risk", "Project", admin[-1]["payload"])
    assert re.search(r"over budget \(\d+\.\d+ of \d+\.\d+ CNY\)", summary), summary


async def test_the_live_timeline_and_change_feed_carry_no_hidden_figure(
        app: Any, gql: Any, users: dict, cost_overrun: Any) -> None:
    """Over the websocket, rep1's replay of the project's timeline and of the change feed says the
    project is over budget without any figure of its costs."""
    token = gql.token("rep1@demo.test")
    start = app.state.realtime.cursors.encode(users["rep1@demo.test"].org_id, 0)  # before the org's first event
    async with connect(app, token) as socket:
        await socket.subscribe("t", TIMELINE, {"recordId": cost_overrun["id"], "after": start})
        await socket.subscribe("f", CHANGE_FEED, {"types": ["Project"], "after": start})
        timeline = []
        while not any(e["kind"] == "risk" and "over budget" in e["summary"] for e in timeline):
            message = await socket.message("t")
            assert message["type"] == "next", message
            timeline.append(message["payload"]["data"]["recordTimeline"])
        feed = []
        while not any(e["topic"] == "project.cost_risk" for e in feed):
            message = await socket.message("f")
            assert message["type"] == "next", message
            feed.append(message["payload"]["data"]["changeFeed"])
    risk = next(e for e in timeline if e["kind"] == "risk" and "over budget" in e["summary"])
    assert risk["summary"].endswith("is forecast over budget"), risk
    assert "estimateAtCompletion" not in risk["data"]
    event = next(e for e in feed if e["topic"] == "project.cost_risk")
    assert "estimateAtCompletion" not in event["payload"] and "budget" not in event["payload"]


# --- every topic the registry declares, every role: synthetic payloads -------------------------

def _paths(record_type: str) -> list[str]:
    """Field paths of a record type: its plain fields and those of the records its id fields name."""
    own = [k for k, d in SHAPES.get(record_type, {}).items() if isinstance(d, tuple)]
    related = [f"{k}.{f}" for k in own if REFERENCES.get(k) in SHAPES
               for f, d in SHAPES[REFERENCES[k]].items() if isinstance(d, tuple)]
    return own + related


def _fill(guard: Guard, keys: dict[str, Any], counter: list[int],
          record_type: str = "") -> tuple[dict[str, Any], dict[str, bool]]:
    """(payload, {value: whether the reader may read it}) for every key a declaration names."""

    def new() -> str:
        counter[0] += 1
        return f"S{counter[0]}秘"

    def readable(governs: tuple[str, ...]) -> bool:
        return all(guard.can_read(*g.split(".", 1)) for g in governs)

    payload: dict[str, Any] = {}
    expect: dict[str, bool] = {}
    payload["undeclaredKey"] = v = new()
    expect[v] = False
    for key, declared in keys.items():
        if isinstance(declared, Nested):
            inner, inner_expect = _fill(guard, SHAPES[declared.shape], counter)
            payload[key] = inner
            allowed = readable(declared.governs)
            expect.update({k: allowed and ok for k, ok in inner_expect.items()})
        elif isinstance(declared, Paths):
            payload[key] = {"no.such.path": (v := new())}
            expect[v] = False
            for path in _paths(record_type):
                payload[key][path] = v = new()
                expect[v] = readable(path_governs(record_type, path) or ())
        elif isinstance(declared, Keyed):
            record_type_of, field = declared.governs.split(".", 1)
            payload[key] = {"someField": (v := new())}
            expect[v] = guard.can_read(record_type_of, f"{field}.someField")
        elif isinstance(declared, Changes):
            payload[key] = {}
            for name, field_key in SHAPES[declared.shape].items():
                if isinstance(field_key, tuple):
                    payload[key][name] = [before := new(), after := new()]
                    expect[before] = expect[after] = readable(field_key)
        else:
            payload[key] = v = new()
            expect[v] = readable(declared)
    return payload, expect


def _record_types(topic: str) -> list[str]:
    """The record types an event of ``topic`` may be about (its shape's, or any for a shapeless one)."""
    shape = TOPICS[topic].shape
    return [shape] if shape else sorted(SHAPES) + ["Org", "User"]


@pytest.mark.parametrize("email", DEMO)
async def test_every_declared_topic_delivers_each_key_exactly_when_the_reader_may_read_its_field(
        app: Any, users: dict, email: str) -> None:
    """For every topic the code can emit (the registry declares them all, see above) and every key it
    may carry, filled with a value of its own: the reader's payload and timeline summary hold it
    exactly when the reader may read the governing field; an undeclared key never."""
    from tandem.resolvers.events import cut

    guard = await _guard(app, users[email])
    counter = [0]
    hidden_total = 0
    for topic in sorted(TOPICS):
        for record_type in _record_types(topic):
            payload, expect = _fill(guard, payload_keys(topic, record_type), counter, record_type)
            delivered = cut(guard, topic, record_type, payload)
            _, summary = describe(topic, record_type, delivered)
            assert "None" not in summary, (topic, summary)
            text = json.dumps(delivered, ensure_ascii=False)
            for value, may in expect.items():
                if may:
                    assert value in text, f"{email}: {topic} dropped a value it may read ({value})"
                else:
                    hidden_total += 1
                    assert value not in text + summary, f"{email}: {topic} leaked {value}: {text} / {summary}"
    assert hidden_total  # every reader has at least the undeclared keys withheld
