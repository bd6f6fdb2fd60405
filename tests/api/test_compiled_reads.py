"""The compiled read path answers byte for byte what ordinary execution answers: every field it declares
(columns, to-one relations, nested connections, cursors, page info, totals, aliases, fragments,
variables), every sort and page direction, as every demo role, over the demo data. Where a role may not
read a field, or an argument is refused, it steps aside and ordinary execution answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import update

from tandem.domain.tenancy.user import User
from tandem.resolvers.compiled.sources import SOURCES
from tandem.schema.node import to_global_id

ROLES = ("admin@demo.test", "manager@demo.test", "rep1@demo.test", "rep2@demo.test", "pm@demo.test",
         "finance@demo.test", "service@demo.test", "marketing@demo.test", "admin@acme.test", "rep@acme.test")


def _columns(type_name: str) -> str:
    return " ".join(SOURCES[type_name].columns)


USER = f"{{ {_columns('User')} __typename }}"
CUSTOMER = f"{{ {_columns('Customer')} owner {USER} }}"
INTERACTION = f"{{ {_columns('Interaction')} customer {{ name tier }} }}"
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }"


def _opportunity(interactions: str = "last: 3") -> str:
    return (f"{{ {_columns('Opportunity')} __typename customer {CUSTOMER} owner {USER} projectManager {{ name }} "
            f"interactions({interactions}) {{ totalCount edges {{ cursor node {INTERACTION} }} {PAGE_INFO} }} }}")


def _page(arguments: str, interactions: str = "last: 3") -> str:
    return (f"{{ opportunities({arguments}) {{ __typename totalCount {PAGE_INFO} "
            f"edges {{ __typename cursor node {_opportunity(interactions)} }} }} }}")


def _customers(arguments: str) -> str:
    return (f"{{ customers({arguments}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {_columns('Customer')} "
            f"owner {USER} interactions(first: 2) {{ totalCount edges {{ node {INTERACTION} }} }} }} }} }} }}")


def _leads(arguments: str) -> str:
    return (f"{{ leads({arguments}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {_columns('Lead')} "
            f"owner {USER} convertedCustomer {{ name tier }} convertedOpportunity {{ name amount stage }} }} }} }} }}")


def _quotes(arguments: str) -> str:
    return (f"{{ quotes({arguments}) {{ __typename totalCount {PAGE_INFO} edges {{ __typename cursor node {{ "
            f"{_columns('Quote')} __typename customer {{ name tier }} opportunity {{ name amount stage }} "
            f"owner {USER} decidedBy {{ name }} previousRevision {{ number revision total }} }} }} }} }}")


def _contracts(arguments: str) -> str:
    return (f"{{ contracts({arguments}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {_columns('Contract')} "
            f"customer {CUSTOMER} opportunity {{ name }} quote {{ number total status }} owner {USER} "
            f"amends {{ number status }} }} }} }} }}")


def _invoices(arguments: str) -> str:
    return (f"{{ invoices({arguments}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {_columns('Invoice')} "
            f"customer {{ name }} contract {{ number amount currency owner {{ name }} }} "
            f"creditedInvoice {{ number total }} }} }} }} }}")


def _projects(arguments: str) -> str:
    return (f"{{ projects({arguments}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {_columns('Project')} "
            f"customer {{ name tier }} manager {USER} salesOwner {{ name }} opportunity {{ name amount }} "
            f"contract {{ number status }} }} }} }} }}")


DOCUMENTS = {
    "quotes": _quotes("first: 10"),
    "quotes, oldest": _quotes("last: 3"),
    "quotes of a status": _quotes("first: 5, filter: {status: ACCEPTED}"),
    "quotes archived too": _quotes("first: 20, filter: {archived: null}"),
    "contracts": _contracts("first: 10"),
    "contracts, oldest": _contracts("last: 2"),
    "contracts by a search": _contracts('first: 5, filter: {search: "合同"}'),
    "contracts of a status": _contracts("first: 5, filter: {status: ACTIVE}"),
    "invoices": _invoices("first: 10"),
    "invoices, oldest": _invoices("last: 2"),
    "invoices overdue": _invoices("first: 10, filter: {overdue: true}"),
    "invoices not overdue": _invoices("first: 10, filter: {overdue: false}"),
    "credit notes": _invoices("first: 10, filter: {kind: CREDIT_NOTE}"),
    "projects": _projects("first: 10"),
    "projects, oldest": _projects("last: 1"),
    "projects, newest": _projects("first: 1"),
    "projects of a health": _projects("first: 5, filter: {health: GREEN}"),
    "projects by a search": _projects('first: 5, filter: {search: "App"}'),
    "quotes with computed figures": ("{ quotes(first: 3) { edges { node { number total discountPercent "
                                     "lines { total } } } } }"),
    "invoices with computed figures": "{ invoices(first: 3) { edges { node { number outstanding daysOverdue } } } }",
    "projects with computed figures": ("{ projects(first: 2) { edges { node { name percentComplete "
                                       "tasks { name } } } } }"),
    "contracts with their plan": "{ contracts(first: 2) { edges { node { number parties { name } "
                                 "paymentPlan { amount } } } } }",
    "quote-to-cash edges only": ("{ quotes(first: 3) { edges { node { number total } } } contracts(last: 2) "
                                 "{ edges { cursor node { number amount } } } invoices(first: 2) { totalCount } "
                                 "projects(first: 2) { edges { node { name budget manager { name } } } } }"),
    "leads": _leads("first: 10"),
    "leads, oldest": _leads("last: 4"),
    "leads by status": _leads("first: 10, status: CONVERTED"),
    "customers by name": _customers("first: 7"),
    "counts only": ("{ opportunities(first: 3) { totalCount } customers(first: 4) { totalCount edges { node { "
                    "name contacts(first: 2) { totalCount } opportunities(first: 1) { __typename totalCount } "
                    "interactions(last: 1) { totalCount } } } } }"),
    "customers with contacts and deals": (
        f"{{ customers(first: 6) {{ edges {{ node {{ name contacts(first: 3) {{ totalCount edges {{ cursor node "
        f"{{ {_columns('Contact')} customer {{ name }} }} }} {PAGE_INFO} }} opportunities(last: 2) {{ totalCount "
        f"edges {{ cursor node {{ name amount stage owner {{ name }} }} }} {PAGE_INFO} }} }} }} }} }}"),
    "customers, newest last": _customers("last: 5, orderBy: {field: CREATED_AT, direction: ASC}"),
    "customers of a tier": _customers("first: 5, filter: {tier: STRATEGIC}"),
    "customers by a search": _customers('first: 5, filter: {search: "科技"}'),
    "customers and opportunities": ("{ customers(first: 2) { edges { node { name } } } "
                                    "opportunities(first: 2) { edges { node { name customer { name } } } } }"),
    "first page": _page("first: 5"),
    "last page": _page("last: 4"),
    "by name": _page("first: 6, orderBy: {field: NAME, direction: ASC}", "first: 2"),
    "by amount": _page("first: 6, orderBy: {field: AMOUNT, direction: DESC}"),
    "by close date": _page("last: 3, orderBy: {field: EXPECTED_CLOSE_DATE, direction: ASC}"),
    "by update": _page("first: 3, orderBy: {field: UPDATED_AT, direction: ASC}", "last: 1"),
    "a stage": _page('first: 10, filter: {stage: "won"}'),
    "a search": _page('first: 10, filter: {search: "ERP"}'),
    "aliases and fragments": (
        "query Aliased { deals: opportunities(first: 3) { items: edges { at: cursor deal: node { ...Deal } } "
        "info: pageInfo { more: hasNextPage } } } "
        "fragment Deal on Opportunity { title: name ... on Opportunity { worth: amount account: customer { "
        "label: name } } history: interactions(first: 2) { edges { node { ... on Interaction { kind } } } } }"),
    "edges only, newest interactions": ("{ opportunities(first: 8) { edges { node { name interactions(last: 3) "
                                        "{ edges { cursor node { kind occurredAt summary } } } } } } }"),
    "edges only, backward by amount": ("{ opportunities(last: 4, orderBy: {field: AMOUNT, direction: DESC}) "
                                       "{ edges { cursor node { name amount } } } }"),
    "edges only, forward by name": ("{ customers(first: 4, orderBy: {field: NAME, direction: DESC}) { edges "
                                    "{ cursor node { name contacts(first: 2) { edges { node { name } } } } } } }"),
    "root typename": "{ __typename opportunities(first: 1) { edges { node { name } } } }",
    "root typename alone": "{ __typename }",
    "another root field": "{ me { name } opportunities(first: 1) { edges { node { name } } } }",
    "variables": ("query Page($n: Int!, $order: OpportunityOrder) { opportunities(first: $n, orderBy: $order) "
                  "{ edges { cursor node { name amount } } pageInfo { endCursor } } }"),
}
STEPS_ASIDE = {"root typename", "root typename alone", "another root field", "quotes with computed figures",
               "invoices with computed figures", "projects with computed figures", "contracts with their plan"}
VARIABLES = {"variables": {"n": 4, "order": {"field": "NAME", "direction": "DESC"}}}


async def _both(client: Any, compiled: Any, token: str, query: str, variables: dict[str, Any] | None = None
                ) -> tuple[bytes, bytes, bool]:
    """(ordinary answer, answer with the compiled path on, whether the compiled path answered)."""
    body = {"query": query, "variables": variables or {}}
    headers = {"authorization": f"Bearer {token}"}
    compiled.enabled = False
    try:
        ordinary = await client.post("/graphql", json=body, headers=headers)
    finally:
        compiled.enabled = True
    before = compiled.answered
    fast = await client.post("/graphql", json=body, headers=headers)
    assert ordinary.status_code == fast.status_code == 200, (ordinary.text, fast.text)
    return ordinary.content, fast.content, compiled.answered > before


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
async def test_compiled_answers_equal_ordinary_ones_for_every_role(app, client, gql, name):
    # given a document ordinary execution has run once (so it is known to be valid)
    compiled = app.state.compiled_reads
    query = DOCUMENTS[name]
    variables = VARIABLES["variables"] if name == "variables" else None
    await gql.raw(query, variables, as_="admin@demo.test")
    answered_by = []
    for role in ROLES:
        # when each role asks with the compiled path off and on
        ordinary, fast, used = await _both(client, compiled, gql.token(role), query, variables)
        # then the answers are the same bytes
        assert fast == ordinary, f"{role}: {fast[:600]!r} != {ordinary[:600]!r}"
        if used:
            answered_by.append(role)
    # and the compiled path answered at least the admins, who may read every field (where it can)
    if name not in STEPS_ASIDE:
        assert {"admin@demo.test", "admin@acme.test"} <= set(answered_by)
    else:
        assert answered_by == []


async def test_the_next_page_by_cursor_is_the_same_both_ways(app, client, gql):
    # (as the admin: a manager's scope, the management chain, nests this statement deeper than SQLite's
    # parser takes; there the compiled path steps aside, and the every-role test above covers managers)
    compiled = app.state.compiled_reads
    token = gql.token("admin@demo.test")
    first = (await gql("{ opportunities(first: 2) { pageInfo { endCursor startCursor } } }", as_="admin@demo.test"))
    info = first["data"]["opportunities"]["pageInfo"]
    for arguments in (f'first: 2, after: "{info["endCursor"]}"', f'last: 2, before: "{info["endCursor"]}"',
                      f'last: 1, before: "{info["startCursor"]}"'):
        query = _page(arguments)
        await gql.raw(query, as_="admin@demo.test")
        ordinary, fast, used = await _both(client, compiled, token, query)
        assert used and fast == ordinary


async def test_the_next_page_of_contracts_by_cursor_is_the_same_both_ways(app, client, gql):
    compiled = app.state.compiled_reads
    token = gql.token("admin@demo.test")
    first = await gql("{ contracts(first: 3) { pageInfo { endCursor startCursor } } }", as_="admin@demo.test")
    info = first["data"]["contracts"]["pageInfo"]
    for arguments, rows in ((f'first: 3, after: "{info["endCursor"]}"', 3),
                            (f'last: 2, before: "{info["endCursor"]}"', 2),
                            (f'last: 1, before: "{info["startCursor"]}"', 0)):
        query = _contracts(arguments)
        await gql.raw(query, as_="admin@demo.test")
        ordinary, fast, used = await _both(client, compiled, token, query)
        assert used and fast == ordinary
        assert len(json.loads(fast)["data"]["contracts"]["edges"]) == rows


async def test_one_record_by_id_is_the_same_both_ways_and_one_out_of_reach_is_not_found(app, client, gql):
    compiled = app.state.compiled_reads
    page = await gql("{ opportunities(first: 3) { edges { node { id } } } }", as_="admin@demo.test")
    ids = [e["node"]["id"] for e in page["data"]["opportunities"]["edges"]]
    for opportunity_id in ids:
        query = f'{{ opportunity(id: "{opportunity_id}") {_opportunity()} }}'
        await gql.raw(query, as_="admin@demo.test")
        for role in ROLES:
            ordinary, fast, _ = await _both(client, compiled, gql.token(role), query)
            assert fast == ordinary, role
    customers = await gql("{ customers(first: 2) { edges { node { id } } } }", as_="admin@demo.test")
    leads = await gql("{ leads(first: 2) { edges { node { id } } } }", as_="admin@demo.test")
    records = [("customer", e["node"]["id"]) for e in customers["data"]["customers"]["edges"]]
    records += [("lead", e["node"]["id"]) for e in leads["data"]["leads"]["edges"]]
    for field, record_id in records:
        type_name = field.capitalize()
        query = f'{{ {field}(id: "{record_id}") {{ {_columns(type_name)} owner {USER} }} }}'
        await gql.raw(query, as_="admin@demo.test")
        for role in ROLES:
            ordinary, fast, _ = await _both(client, compiled, gql.token(role), query)
            assert fast == ordinary, role
    for field, relations in (("quote", f"customer {{ name }} owner {USER} opportunity {{ name }}"),
                             ("contract", f"customer {{ name }} owner {USER} quote {{ number }}"),
                             ("invoice", "customer { name } contract { number }"),
                             ("project", f"customer {{ name }} manager {USER}")):
        type_name = field.capitalize()
        listed = await gql(f"{{ {field}s(first: 2) {{ edges {{ node {{ id }} }} }} }}", as_="admin@demo.test")
        found = [e["node"]["id"] for e in listed["data"][f"{field}s"]["edges"]]
        assert found, f"the demo data has no {field}s: the test shows nothing"
        for record_id in found:
            query = f'{{ {field}(id: "{record_id}") {{ {_columns(type_name)} {relations} }} }}'
            await gql.raw(query, as_="admin@demo.test")
            answered = []
            for role in ROLES:
                ordinary, fast, used = await _both(client, compiled, gql.token(role), query)
                assert fast == ordinary, f"{role}: {fast[:600]!r} != {ordinary[:600]!r}"
                answered += [role] if used else []
            assert "admin@demo.test" in answered, field
    # a record of another org is NOT_FOUND, exactly as before (the compiled path stepped aside)
    query = f'{{ opportunity(id: "{ids[0]}") {{ name }} }}'
    await gql.raw(query, as_="admin@demo.test")
    ordinary, fast, used = await _both(client, compiled, gql.token("admin@acme.test"), query)
    assert not used and fast == ordinary and json.loads(fast)["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("arguments", [
    "first: 500", "first: 0", "first: 2, last: 2", 'first: 2, after: "bm90IGEgY3Vyc29y"',
    'first: 2, after: "' + base64.urlsafe_b64encode(b'["NAME","x",1]').decode().rstrip("=") + '"',
])
async def test_arguments_ordinary_execution_refuses_are_refused_the_same(app, client, gql, arguments):
    # given a document whose arguments the services refuse
    compiled = app.state.compiled_reads
    query = _page(arguments)
    await gql.raw(query, as_="admin@demo.test")
    # then the compiled path steps aside and the error is ordinary execution's
    ordinary, fast, used = await _both(client, compiled, gql.token("admin@demo.test"), query)
    assert not used and fast == ordinary and b'"errors"' in fast


async def test_a_row_scope_changed_by_the_admin_applies_to_the_next_compiled_answer(app, client, gql):
    # given a rep whose own deals the compiled path has answered
    compiled = app.state.compiled_reads
    query = "{ opportunities(first: 100) { totalCount edges { node { id name } } } }"
    await gql.raw(query, as_="rep2@demo.test")
    before = json.loads((await gql.raw(query, as_="rep2@demo.test")).content)
    assert before["data"]["opportunities"]["totalCount"] > 0
    scope = ("mutation ($input: SetRowScopeInput!) { setRowScope(input: $input) { userErrors { code } } }")
    try:
        # when the admin sets the reps' opportunity scope to NONE
        changed = await gql(scope, {"input": {"role": "sales_rep", "type": "Opportunity", "scope": "NONE"}},
                            as_="admin@demo.test")
        assert changed["data"]["setRowScope"]["userErrors"] == []
        answered = compiled.answered
        after = json.loads((await gql.raw(query, as_="rep2@demo.test")).content)
        # then the compiled path answers with the new scope: nothing of their own is left
        assert compiled.answered == answered + 1
        assert after["data"]["opportunities"]["totalCount"] < before["data"]["opportunities"]["totalCount"]
    finally:
        await gql(scope, {"input": {"role": "sales_rep", "type": "Opportunity", "scope": "OWN"}}, as_="admin@demo.test")


@pytest.mark.parametrize("query", [
    "{ opportunities(first: 3) { edges { node { name amount probability customer { name } } } } }",
    "{ customers(first: 3) { edges { cursor node { name creditLimit tier } } } }",
])
async def test_fields_a_role_may_not_read_are_null_and_reported_the_same_way(app, client, gql, query):
    # given a page where some roles may not read some of the rows' own columns
    compiled = app.state.compiled_reads
    await gql.raw(query, as_="admin@demo.test")
    reported_by = []
    for role in ROLES:
        # when each role asks
        ordinary, fast, used = await _both(client, compiled, gql.token(role), query)
        # then the answers are the same bytes: the denied fields null, one FORBIDDEN_FIELD each
        assert fast == ordinary, f"{role}: {fast[:400]!r} != {ordinary[:400]!r}"
        errors = json.loads(fast).get("errors", [])
        if errors:
            assert {e["extensions"]["code"] for e in errors} == {"FORBIDDEN_FIELD"}
            assert used, role  # and it was the compiled path that said so
            reported_by.append(role)
    assert reported_by, "no role was denied a field here: the test shows nothing"


MINE = "{ opportunities(first: 100) { totalCount edges { node { id name } } } }"


async def test_a_repeated_query_is_answered_without_a_session_and_the_same(app, client, gql):
    # given a rep's page, asked before (the document validated, then the user checked and the statement built)
    compiled = app.state.compiled_reads
    await gql.raw(MINE, as_="rep1@demo.test")
    first = await gql.raw(MINE, as_="rep1@demo.test")
    known = compiled.answered_known

    # when they ask again
    again = await gql.raw(MINE, as_="rep1@demo.test")

    # then the statement kept for them answers it by itself, the same bytes
    assert compiled.answered_known == known + 1
    assert again.content == first.content


async def test_a_user_deactivated_gets_no_answer_from_a_kept_statement(app, client, gql, db, users):
    # given a rep whose page the kept statement answers
    compiled = app.state.compiled_reads
    rep = users["rep2@demo.test"]
    await gql.raw(MINE, as_="rep2@demo.test")
    assert json.loads((await gql.raw(MINE, as_="rep2@demo.test")).content)["data"]["opportunities"]["totalCount"]
    known = compiled.answered_known
    try:
        # when an operator deactivates them (in the database, not through the API) and they ask again
        async with db.write() as session:
            await session.execute(update(User).where(User.id == rep.id).values(active=False))
        refused = await gql.raw(MINE, as_="rep2@demo.test")

        # then they are refused as an unknown user at once, and no data leaves
        body = json.loads(refused.content)
        assert body.get("data") in (None, {"opportunities": None}), body
        assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}
        assert compiled.answered_known == known
    finally:
        async with db.write() as session:
            await session.execute(update(User).where(User.id == rep.id).values(active=True))
    # and once active again they are answered again
    assert json.loads((await gql.raw(MINE, as_="rep2@demo.test")).content)["data"]["opportunities"]["totalCount"]


async def test_a_role_given_applies_to_the_next_answer_of_a_kept_statement(app, client, gql, users):
    # given a rep whose own deals the kept statement answers
    rep = users["rep1@demo.test"]
    await gql.raw(MINE, as_="rep1@demo.test")
    own = json.loads((await gql.raw(MINE, as_="rep1@demo.test")).content)["data"]["opportunities"]["totalCount"]
    grant = "mutation ($input: AssignRoleInput!) { assignRole(input: $input) { userErrors { code } } }"
    revoke = "mutation ($input: AssignRoleInput!) { revokeRole(input: $input) { userErrors { code } } }"
    role = {"input": {"userId": to_global_id("User", rep.id), "role": "admin"}}
    try:
        # when the admin makes them an admin too
        assert (await gql(grant, role, as_="admin@demo.test"))["data"]["assignRole"]["userErrors"] == []
        wider = json.loads((await gql.raw(MINE, as_="rep1@demo.test")).content)

        # then their next answer is an admin's: every deal of the org, not only their own
        assert wider["data"]["opportunities"]["totalCount"] > own
    finally:
        assert (await gql(revoke, role, as_="admin@demo.test"))["data"]["revokeRole"]["userErrors"] == []
    # and once the role is taken back, their own again
    back = json.loads((await gql.raw(MINE, as_="rep1@demo.test")).content)
    assert back["data"]["opportunities"]["totalCount"] == own


async def test_money_in_every_kind_of_currency_and_whole_second_times_are_written_the_same_both_ways(
        app, client, gql):
    # given deals in currencies of 0, 2 and 3 decimal places and interactions at whole seconds and not
    compiled = app.state.compiled_reads
    created = await gql('mutation { createCustomer(input: {name: "精度测试客户"}) { customer { id } } }',
                        as_="admin@demo.test")
    customer_id = created["data"]["createCustomer"]["customer"]["id"]
    for currency, amount, at in (("JPY", "1235", "2026-03-01T08:00:00+00:00"),
                                 ("KWD", "1234.568", "2026-03-01T08:00:00.000500+00:00"),
                                 ("CNY", "1234.5", "2026-03-02T09:30:15.250000+00:00")):
        deal = await gql("mutation($c: ID!, $cur: String!, $a: Decimal!) { createOpportunity(input: {customerId: $c, "
                         'name: "精度", amount: $a, currency: $cur}) { opportunity { id } userErrors { code } } }',
                         {"c": customer_id, "cur": currency, "a": amount}, as_="admin@demo.test")
        deal_id = deal["data"]["createOpportunity"]["opportunity"]["id"]
        await gql("mutation($c: ID!, $o: ID!, $at: DateTime!) { logInteraction(input: {customerId: $c, "
                  'opportunityId: $o, kind: CALL, summary: "整点", occurredAt: $at}) { interaction { id } } }',
                  {"c": customer_id, "o": deal_id, "at": at}, as_="admin@demo.test")
    query = ('{ opportunities(first: 3, filter: {search: "精度"}) { edges { cursor node { amount currency '
             "interactions(last: 1) { edges { cursor node { occurredAt } } } } } } }")
    await gql.raw(query, as_="admin@demo.test")
    # when both ways answer
    ordinary, fast, used = await _both(client, compiled, gql.token("admin@demo.test"), query)
    # then the compiled answer is the ordinary one, byte for byte: amounts to each currency's minor unit
    # (no fraction for yen, three places for dinars, two for yuan) and a time at a whole second without a fraction
    assert used and fast == ordinary
    nodes = [e["node"] for e in json.loads(fast)["data"]["opportunities"]["edges"]]
    assert {n["currency"]: n["amount"] for n in nodes} == {"JPY": "1235", "KWD": "1234.568", "CNY": "1234.50"}
    assert {n["interactions"]["edges"][0]["node"]["occurredAt"] for n in nodes} == {
        "2026-03-01T08:00:00+00:00", "2026-03-01T08:00:00.000500+00:00", "2026-03-02T09:30:15.250000+00:00"}


async def test_a_kept_statement_has_names_and_numbers_written_in_and_free_text_as_a_parameter(app, gql):
    # given a page and a search answered through the compiled path (their statements kept)
    compiled = app.state.compiled_reads
    page = "{ opportunities(first: 4) { edges { node { name customer { name } } } } }"
    search = '{ opportunities(first: 4, filter: {search: "ERP\'s 集成"}) { edges { node { name } } } }'
    for query in (page, search, page, search):
        await gql.raw(query, as_="rep1@demo.test")
    kept = {compiled._key(q): [v for k, v in compiled._statements.items() if k[0] == compiled._key(q)]
            for q in (page, search)}
    # then the page's statement has the record type of the rep's sharing check written in and, on PostgreSQL,
    # no parameter left (the database plans it once per connection, not per execution), while the search
    # text stays a parameter, never written into the SQL
    (page_sql, page_parameters), = kept[compiled._key(page)]
    (search_sql, search_parameters), = kept[compiled._key(search)]
    assert "'Opportunity'" in page_sql
    if app.state.db.dialect == "postgresql":
        assert not page_parameters
    assert any("集成" in str(p) for p in search_parameters) and "集成" not in search_sql


async def test_rates_with_and_without_fractions_are_written_the_same_both_ways(app, client, gql):
    # given contracts with tax rates of one, four and no decimal places, in currencies of 0, 2 and 3 places,
    # and a quote whose largest line discount has a fraction
    compiled = app.state.compiled_reads
    created = await gql('mutation { createCustomer(input: {name: "税率测试客户"}) { customer { id } } }',
                        as_="admin@demo.test")
    customer_id = created["data"]["createCustomer"]["customer"]["id"]
    for currency, amount, tax_rate in (("JPY", "1235", "6.5"), ("KWD", "10.125", "0.0001"), ("CNY", "99.9", "13")):
        made = await gql("mutation($c: ID!, $cur: String!, $a: Decimal!, $t: Decimal!) { createContract(input: "
                         '{customerId: $c, title: "税率合同", amount: $a, currency: $cur, taxRate: $t}) '
                         "{ contract { id } userErrors { code } } }",
                         {"c": customer_id, "cur": currency, "a": amount, "t": tax_rate}, as_="admin@demo.test")
        assert made["data"]["createContract"]["userErrors"] == [], made
    deal = await gql(f'mutation {{ createOpportunity(input: {{customerId: "{customer_id}", name: "税率", '
                     'amount: "100"}) { opportunity { id } } }', as_="admin@demo.test")
    deal_id = deal["data"]["createOpportunity"]["opportunity"]["id"]
    quoted = await gql("mutation($o: ID!) { createQuote(input: {opportunityId: $o, lines: ["
                       '{description: "实施", unit: "天", quantity: "3", unitPrice: "100", discountPercent: "12.5"}, '
                       '{description: "培训", unit: "天", quantity: "1", unitPrice: "80", discountPercent: "0.25"}]}) '
                       "{ quote { id } userErrors { code } } }", {"o": deal_id}, as_="admin@demo.test")
    assert quoted["data"]["createQuote"]["userErrors"] == [], quoted
    contracts = '{ contracts(first: 3, filter: {search: "税率合同"}) { edges { node { amount currency taxRate } } } }'
    quotes = (f'{{ quotes(first: 1, filter: {{opportunityId: "{deal_id}"}}) {{ edges {{ node {{ maxDiscountPercent '
              "grossTotal discountTotal subtotal taxTotal total } } } }")
    answers = {}
    for query in (contracts, quotes):
        await gql.raw(query, as_="admin@demo.test")
        # when both ways answer
        ordinary, fast, used = await _both(client, compiled, gql.token("admin@demo.test"), query)
        # then the compiled answer is the ordinary one, byte for byte
        assert used and fast == ordinary
        answers[query] = json.loads(fast)["data"]
    # and rates are written without trailing zeros, as people write them
    assert {n["node"]["taxRate"] for n in answers[contracts]["contracts"]["edges"]} == {"6.5", "0.0001", "13"}
    assert answers[quotes]["quotes"]["edges"][0]["node"]["maxDiscountPercent"] == "12.5"
