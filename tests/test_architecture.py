"""The structure DESIGN.md and STYLE.md promise, checked: areas of domain/ never import each other in
a cycle, no import hides in a function body to dodge the area order, no source file outgrows a
module, and every reaction an area relies on is registered once ``domain`` is imported."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import grimp
import pytest

from tandem import domain
from tandem.domain.billing.events import InvoiceOverdue
from tandem.domain.contracts.events import ContractActivated, ContractReturnedToDraft, ContractTerminated
from tandem.domain.delivery.events import ExpenseAdded, MilestoneReached, PlanChanged, ProjectCreated, TimeLogged
from tandem.domain.pipeline.events import OpportunityWon
from tandem.domain.shared import bus, references
from tandem.domain.tenancy.events import OrgCreated

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("tandem", "domain", "resolvers", "schema", "realtime", "authz")
FOLDERS = {"domain", "resolvers", "schema", "realtime", "authz", "migrations"}
"""Top-level folders installed as tandem.<folder> (linked into tandem/)."""
MAX_LINES = 500


def _function_body_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_import_inside_a_function_body_in_domain():
    # given every module of domain/
    modules = sorted((ROOT / "domain").rglob("*.py"))
    # when we look for imports inside functions
    hidden = [hit for path in modules for hit in _function_body_imports(path)]
    # then there are none: an area that needs another imports it at the top, or raises an event
    assert hidden == []


def _area_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("tandem", include_external_packages=False)
    edges: dict[str, set[str]] = {}
    for imp in graph.find_matching_direct_imports(import_expression="tandem.domain.** -> domain.**"):
        importer, imported = imp["importer"].split(".")[1:], imp["imported"].split(".")[1:]
        if len(importer) > 1 and len(imported) > 1 and importer[1] != imported[1]:
            edges.setdefault(importer[1], set()).add(imported[1])
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, path = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return cycles


def test_areas_of_domain_import_each_other_without_a_cycle():
    # given the import graph of domain/, folded to its areas (crm, pipeline, delivery...)
    edges = _area_graph()
    # then no area reaches itself again
    assert _cycles(edges) == []
    # and shared, the bottom, imports no area
    assert edges.get("shared", set()) == set()


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_source_file_is_over_500_lines():
    # given every Python file of the product (tests, bench and migrations aside)
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
             for package in SOURCE_PACKAGES for path in (ROOT / package).rglob("*.py")}
    # then none passed the size at which a module becomes a package
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


@pytest.mark.parametrize(("event_type", "reacting_module"), [
    (OrgCreated, ["tandem.domain.pipeline.stage", "tandem.domain.automation.seeded_rules",
                  "tandem.domain.service.queue"]),
    (OpportunityWon, "tandem.domain.delivery.project.conversion"),
    (ProjectCreated, "tandem.domain.delivery.task"),
    (PlanChanged, "tandem.domain.delivery.progress"),
    (TimeLogged, "tandem.domain.delivery.progress"),
    (ExpenseAdded, "tandem.domain.delivery.progress"),
    (MilestoneReached, "tandem.domain.billing.payment_plan"),
    (ContractTerminated, "tandem.domain.billing.payment_plan"),
    (ContractReturnedToDraft, "tandem.domain.contracts.signature"),
])
def test_importing_domain_registers_each_reaction_once(event_type, reacting_module):
    # given domain imported (as every entry point does)
    assert domain.__name__ == "tandem.domain"
    # then the event has exactly its reactions (one each), from the areas that care
    expected = reacting_module if isinstance(reacting_module, list) else [reacting_module]
    assert [r.__module__ for r in bus.reactions_to(event_type)] == expected


@pytest.mark.parametrize(("event_type", "writing_module"), [
    (ContractTerminated, "tandem.domain.contracts.outward"),
    (ContractActivated, "tandem.domain.contracts.outward"),
    (InvoiceOverdue, "tandem.domain.billing.invoice.model"),
    (ProjectCreated, "tandem.domain.delivery.outward"),
    (TimeLogged, "tandem.domain.delivery.outward"),
    (ExpenseAdded, "tandem.domain.delivery.outward"),
])
def test_events_with_an_outward_form_have_one_writer(event_type, writing_module):
    writer = bus.writer_of(event_type)
    assert writer is not None and writer.__module__ == writing_module


def test_registering_a_second_outward_writer_is_refused():
    async def another(session, actor, event, results):
        return None

    with pytest.raises(RuntimeError):
        bus.outward(ContractTerminated)(another)


def test_customers_are_read_by_crm_for_areas_below_it():
    # pipeline refers to an opportunity's customer by id; crm answers for it
    reader = references._readers["Customer"]
    assert reader.__module__ == "tandem.domain.crm.customer"


def test_the_product_is_imported_only_under_the_tandem_namespace():
    # given the app built (it imports every layer) and the test suite loaded
    import_module("tandem.app")
    # then no module of the repository was imported a second time under a top-level name of its own
    stray = sorted(name for name, module in list(sys.modules.items())
                   if name.split(".")[0] in FOLDERS and str(getattr(module, "__file__", "")).startswith(str(ROOT)))
    assert stray == []


@pytest.mark.parametrize(("first", "order"), [
    (False, ["reaction", "writer saw ['reacted']"]),
    (True, ["writer saw []", "reaction"]),
])
async def test_an_outward_writer_runs_after_the_reactions_unless_it_comes_first(first, order):
    # given an event with one reaction and one outward writer
    @dataclass(frozen=True)
    class Happened:
        n: int

    seen: list[str] = []

    @bus.handles(Happened)
    async def react(session, actor, event):
        seen.append("reaction")
        return "reacted"

    @bus.outward(Happened, first=first)
    async def write(session, actor, event, results):
        seen.append(f"writer saw {results}")

    # when it is dispatched
    results = await bus.dispatch(None, None, Happened(1))
    # then the writer's row comes after the reactions (and sees what they returned), or before them
    assert seen == order and results == ["reacted"]
