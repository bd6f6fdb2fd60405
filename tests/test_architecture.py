"""The structure DESIGN.md and STYLE.md promise, checked: areas of domain/ never import each other in
a cycle, no import hides in a function body to dodge the area order, no source file outgrows a
module, and every reaction an area relies on is registered once ``domain`` is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

import domain
from domain.billing.events import InvoiceOverdue
from domain.contracts.events import ContractActivated, ContractReturnedToDraft, ContractTerminated
from domain.delivery.events import ExpenseAdded, MilestoneReached, PlanChanged, ProjectCreated, TimeLogged
from domain.pipeline.events import OpportunityWon
from domain.shared import bus, references
from domain.tenancy.events import OrgCreated

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("tandem", "domain", "resolvers", "schema", "realtime", "authz")
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
    graph = grimp.build_graph("domain", include_external_packages=False)
    edges: dict[str, set[str]] = {}
    for imp in graph.find_matching_direct_imports(import_expression="domain.** -> domain.**"):
        importer, imported = imp["importer"].split("."), imp["imported"].split(".")
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
    (OrgCreated, "domain.pipeline.stage"),
    (OpportunityWon, "domain.delivery.project.conversion"),
    (ProjectCreated, "domain.delivery.task"),
    (PlanChanged, "domain.delivery.progress"),
    (TimeLogged, "domain.delivery.progress"),
    (ExpenseAdded, "domain.delivery.progress"),
    (MilestoneReached, "domain.billing.payment_plan"),
    (ContractTerminated, "domain.billing.payment_plan"),
    (ContractReturnedToDraft, "domain.contracts.signature"),
])
def test_importing_domain_registers_each_reaction_once(event_type, reacting_module):
    # given domain imported (as every entry point does)
    assert domain.__name__ == "domain"
    # then the event has exactly its one reaction, from the area that cares
    assert [r.__module__ for r in bus.reactions_to(event_type)] == [reacting_module]


@pytest.mark.parametrize(("event_type", "writing_module"), [
    (ContractTerminated, "domain.contracts.outward"),
    (ContractActivated, "domain.contracts.outward"),
    (InvoiceOverdue, "domain.billing.invoice.model"),
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
    assert reader.__module__ == "domain.crm.customer"
