"""Text the database cannot hold the same way on both backends never gets in: a control character other than
tab, newline and carriage return, or an unpaired surrogate, in any string input (argument, input object field,
list element, variable, JSON value) is BAD_USER_INPUT naming the field, and nothing is written."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

REP = "rep1@demo.test"
CUSTOMER_COUNT = """
query CustomerCount($search: String!) { customers(first: 100, filter: {search: $search}) { totalCount } }
"""
CREATE_CUSTOMER = """
mutation CreateCustomer($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name } userErrors { field code } }
}
"""
CREATE_OPPORTUNITY = """
mutation CreateOpportunity($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id } userErrors { field code } }
}
"""
OPPORTUNITY_COUNT = """
query OpportunityCount($search: String!) { opportunities(first: 100, filter: {search: $search}) { totalCount } }
"""
A_CUSTOMER = "{ customers(first: 1) { edges { node { id } } } }"


def _marker() -> str:
    return f"TextInput{uuid.uuid4().hex[:12]}"


async def _post(gql: Any, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Posts with every non-ASCII character escaped, the only way a lone surrogate travels in JSON."""
    body = json.dumps({"query": query, "variables": variables or {}}, ensure_ascii=True)
    response = await gql.http.post("/graphql", content=body, headers={
        "authorization": f"Bearer {gql.token(REP)}", "content-type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


def _rejected(result: dict[str, Any], *names: str) -> str:
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    message = error["message"]
    for name in names:
        assert name in message, message
    assert "control characters" in message, message
    assert "Traceback" not in message and "File " not in message
    assert "\x00" not in message
    assert not result.get("data"), result
    return message


async def _count(gql: Any, query: str, search: str) -> int:
    result = await _post(gql, query, {"search": search})
    assert "errors" not in result, result
    return next(iter(result["data"].values()))["totalCount"]


async def _customer_id(gql: Any) -> str:
    result = await _post(gql, A_CUSTOMER)
    return result["data"]["customers"]["edges"][0]["node"]["id"]


# ---- arguments and filters -----------------------------------------------------------------------------------


async def test_nul_in_a_search_literal_is_bad_user_input_naming_the_field(gql):
    # when
    result = await _post(gql, '{ customers(filter: {search: "\\u0000"}) { totalCount } }')
    # then
    _rejected(result, "search", "U+0000")


async def test_lone_surrogate_in_a_variable_is_bad_user_input_naming_the_variable(gql):
    # when
    result = await _post(gql, CUSTOMER_COUNT, {"search": "abc\ud800"})
    # then
    _rejected(result, "$search", "U+D800")


async def test_lone_surrogate_in_a_literal_is_a_syntax_error_not_internal(gql):
    # when: the raw code point inside the document itself
    result = await _post(gql, '{ customers(filter: {search: "a\ud800"}) { totalCount } }')
    # then
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "U+D800" in error["message"]


@pytest.mark.parametrize("text", ["\x01", "a\x1fb", "\x7f", "\x85", "\udc00", "x\ud83d"],
                         ids=["soh", "unit-separator", "del", "c1-nel", "low-surrogate", "high-surrogate-at-end"])
async def test_other_control_characters_and_surrogates_are_rejected(gql, text):
    # when
    result = await _post(gql, CUSTOMER_COUNT, {"search": text})
    # then
    _rejected(result, "$search")


async def test_an_id_argument_is_checked_too(gql):
    # when
    literal = await _post(gql, '{ customer(id: "Q3VzdG9tZXI6MQ\\u0000") { id } }')
    variable = await _post(gql, "query ($id: ID!) { customer(id: $id) { id } }", {"id": "\x00"})
    # then
    _rejected(literal, "id")
    _rejected(variable, "$id")


# ---- writes: nothing is stored ---------------------------------------------------------------------------------


async def test_nul_in_a_created_customers_name_is_rejected_and_nothing_is_written(gql):
    # given
    marker = _marker()
    # when
    result = await _post(gql, 'mutation { createCustomer(input: {name: "MARKER\\u0000b"}) { customer { id } } }'
                         .replace("MARKER", marker))
    # then
    _rejected(result, "name", "U+0000")
    assert await _count(gql, CUSTOMER_COUNT, marker) == 0


async def test_nul_in_a_created_customers_name_variable_is_rejected_and_nothing_is_written(gql):
    # given
    marker = _marker()
    # when
    result = await _post(gql, CREATE_CUSTOMER, {"input": {"name": f"{marker}\x00b"}})
    # then
    _rejected(result, "$input", "name")
    assert await _count(gql, CUSTOMER_COUNT, marker) == 0


async def test_a_list_element_is_checked(gql):
    # given
    marker = _marker()
    # when
    literal = await _post(gql, 'mutation { createCustomer(input: {name: "MARKER", tags: ["ok", "bad\\u001f"]}) '
                               "{ customer { id } } }".replace("MARKER", marker))
    variable = await _post(gql, CREATE_CUSTOMER, {"input": {"name": marker, "tags": ["ok", "bad\ud800"]}})
    # then
    _rejected(literal, "tags")
    _rejected(variable, "$input", "tags[1]")
    assert await _count(gql, CUSTOMER_COUNT, marker) == 0


async def test_a_nested_input_objects_field_is_checked(gql):
    # given
    marker = _marker()
    customer_id = await _customer_id(gql)
    # when
    literal = await _post(gql, 'mutation ($c: ID!) { createOpportunity(input: {customerId: $c, name: "MARKER", '
                               'milestones: [{name: "kickoff"}, {name: "go\\u0007live"}]}) { opportunity { id } } }'
                          .replace("MARKER", marker), {"c": customer_id})
    variable = await _post(gql, CREATE_OPPORTUNITY, {"input": {
        "customerId": customer_id, "name": marker, "milestones": [{"name": "kickoff"}, {"name": "go\x07live"}]}})
    # then
    _rejected(literal, "name", "U+0007")
    _rejected(variable, "$input", "milestones[1].name")
    assert await _count(gql, OPPORTUNITY_COUNT, marker) == 0


async def test_a_json_value_deep_inside_custom_fields_is_checked(gql):
    # given
    marker = _marker()
    # when
    literal = await _post(gql, 'mutation { createCustomer(input: {name: "MARKER", '
                               'customFields: {a: {b: ["x", "\\u0000"]}}}) { customer { id } } }'
                          .replace("MARKER", marker))
    deep = {"a": {"b": ["x", "\ud800"]}}
    variable = await _post(gql, CREATE_CUSTOMER, {"input": {"name": marker, "customFields": deep}})
    key = await _post(gql, CREATE_CUSTOMER, {"input": {"name": marker, "customFields": {"a\x00": 1}}})
    # then
    _rejected(literal, "customFields", "a.b[1]")
    _rejected(variable, "$input", "customFields", "a.b[1]")
    _rejected(key, "customFields", "key")
    assert await _count(gql, CUSTOMER_COUNT, marker) == 0


# ---- what stays allowed ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["a\tb", "line1\nline2", "cr\r\n", "上海张江", "emoji 😀"],
                         ids=["tab", "newline", "carriage-return", "chinese", "astral"])
async def test_tab_newline_carriage_return_and_any_script_are_accepted(gql, text):
    # when
    literal = await _post(gql, f"{{ customers(first: 1, filter: {{search: {json.dumps(text)}}}) {{ totalCount }} }}")
    variable = await _post(gql, CUSTOMER_COUNT, {"search": text})
    # then
    assert "errors" not in literal, literal
    assert "errors" not in variable, variable


async def test_a_chinese_name_is_stored_unchanged(gql):
    # given
    name = f"上海文本测试有限公司 {_marker()}"
    # when
    result = await _post(gql, CREATE_CUSTOMER, {"input": {"name": name}})
    # then
    assert "errors" not in result, result
    assert result["data"]["createCustomer"]["customer"]["name"] == name


@pytest.mark.parametrize("document", [
    "query ($s: CustomerTier) { customers(first: 1, filter: {tier: $s}) { totalCount } }",
    "mutation ($s: CustomerTier) { createCustomer(input: {name: \"x\", tier: $s}) { customer { id } } }",
], ids=["enum-filter", "enum-in-input"])
async def test_an_unpaired_surrogate_quoted_back_in_an_error_is_answered_not_a_500(gql: Any, document: str) -> None:
    """graphql-core repeats an unknown enum value in its message; the answer still encodes (escaped)."""
    body = json.dumps({"query": document, "variables": {"s": "\ud800"}}, ensure_ascii=True)
    response = await gql.http.post("/graphql", content=body, headers={
        "authorization": f"Bearer {gql.token(REP)}", "content-type": "application/json"})
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "CustomerTier" in error["message"]
