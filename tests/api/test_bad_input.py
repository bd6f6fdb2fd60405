"""Bad input gets a specific error code and changes nothing: foreign and garbage ids, stages, money,
lengths, custom fields, stale versions, idempotency keys, and text that must round-trip unchanged."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import pytest

CREATE_CUSTOMER = """
mutation CreateCustomer($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name tags industry customFields creditLimit version }
    userErrors { field code }
  }
}
"""
UPDATE_CUSTOMER = """
mutation UpdateCustomer($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id name version } userErrors { field code } }
}
"""
CUSTOMER = """
query Customer($id: ID!) { customer(id: $id) { id name tags industry customFields creditLimit version } }
"""
CUSTOMER_COUNT = """
query CustomerCount($search: String!) { customers(first: 100, filter: {search: $search}) { totalCount } }
"""
CREATE_CONTACT = """
mutation CreateContact($input: CreateContactInput!) {
  createContact(input: $input) { contact { id } userErrors { field code } }
}
"""
CONTACT_COUNT = "query ContactCount($id: ID!) { customer(id: $id) { contacts(first: 100) { totalCount } } }"
CREATE_LEAD = """
mutation CreateLead($input: CreateLeadInput!) { createLead(input: $input) { lead { id } userErrors { field code } } }
"""
CREATE_OPPORTUNITY = """
mutation CreateOpportunity($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) {
    opportunity { id name stage amount currency customFields version }
    userErrors { field code }
  }
}
"""
CREATE_OPPORTUNITY_WITH_AMOUNT_LITERAL = """
mutation CreateOpportunity($customerId: ID!) {
  createOpportunity(input: {customerId: $customerId, name: "Literal", amount: AMOUNT}) { opportunity { id } }
}
"""
UPDATE_OPPORTUNITY = """
mutation UpdateOpportunity($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity { id name amount customFields version }
    userErrors { field code }
  }
}
"""
MOVE_STAGE = """
mutation MoveStage($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id stage version } userErrors { field code } }
}
"""
OPPORTUNITY = """
query Opportunity($id: ID!) {
  opportunity(id: $id) { id name stage amount currency lostReason customFields version }
}
"""
OPPORTUNITY_COUNT = """
query OpportunityCount($customerId: ID!) { opportunities(first: 100, filter: {customerId: $customerId}) { totalCount } }
"""
NODE = "query Node($id: ID!) { record: node(id: $id) { id } }"
CUSTOMER_BY_ID = "query Customer($id: ID!) { record: customer(id: $id) { id name } }"
OPPORTUNITY_BY_ID = "query Opportunity($id: ID!) { record: opportunity(id: $id) { id name } }"
ACME_RECORDS = """
{
  me { id }
  myOrg { id }
  customers(first: 1, filter: {search: "Acme Secret Customer"}) { edges { node { id name version } } }
  opportunities(first: 1, filter: {search: "Acme deal"}) { edges { node { id name stage amount version } } }
}
"""
ACME_ADMIN = "admin@acme.test"
REP = "rep1@demo.test"


def _unique(prefix: str = "test") -> str:
    return f"{prefix} {uuid.uuid4().hex}"


def _global_id(type_name: str, pk: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _error_code(result: dict[str, Any]) -> str:
    [error] = result["errors"]
    return error["extensions"]["code"]


def _user_errors(result: dict[str, Any], mutation: str) -> list[tuple[list[str], str]]:
    payload = result["data"][mutation]
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def new_customer(gql: Any, *, as_: str = REP, **overrides: Any) -> dict[str, Any]:
    result = await gql(CREATE_CUSTOMER, {"input": {"name": _unique("Customer"), **overrides}}, as_=as_)
    assert "errors" not in result, result
    assert result["data"]["createCustomer"]["userErrors"] == []
    return result["data"]["createCustomer"]["customer"]


async def new_opportunity(gql: Any, *, as_: str = REP, **overrides: Any) -> dict[str, Any]:
    if "customerId" not in overrides:
        overrides["customerId"] = (await new_customer(gql, as_=as_))["id"]
    data = {"name": _unique("Deal"), "amount": "1000.00", **overrides}
    result = await gql(CREATE_OPPORTUNITY, {"input": data}, as_=as_)
    assert "errors" not in result, result
    assert result["data"]["createOpportunity"]["userErrors"] == []
    return result["data"]["createOpportunity"]["opportunity"]


async def read_customer(gql: Any, customer_id: str, *, as_: str = REP) -> dict[str, Any]:
    result = await gql(CUSTOMER, {"id": customer_id}, as_=as_)
    assert "errors" not in result, result
    return result["data"]["customer"]


async def read_opportunity(gql: Any, opportunity_id: str, *, as_: str = REP) -> dict[str, Any]:
    result = await gql(OPPORTUNITY, {"id": opportunity_id}, as_=as_)
    assert "errors" not in result, result
    return result["data"]["opportunity"]


async def customer_count(gql: Any, search: str) -> int:
    result = await gql(CUSTOMER_COUNT, {"search": search})
    return result["data"]["customers"]["totalCount"]


async def opportunity_count(gql: Any, customer_id: str) -> int:
    result = await gql(OPPORTUNITY_COUNT, {"customerId": customer_id})
    return result["data"]["opportunities"]["totalCount"]


@pytest.fixture(scope="module")
async def acme(gql) -> dict[str, Any]:
    """Ids of Acme's records, read by Acme's admin."""
    result = await gql(ACME_RECORDS, as_=ACME_ADMIN)
    assert "errors" not in result, result
    data = result["data"]
    return {
        "user": data["me"]["id"],
        "org": data["myOrg"]["id"],
        "customer": data["customers"]["edges"][0]["node"],
        "opportunity": data["opportunities"]["edges"][0]["node"],
    }


# ---- ids of another org -----------------------------------------------------------------------------------------


async def test_contact_for_another_orgs_customer_is_not_found_and_not_created(gql, acme):
    # given
    customer_id = acme["customer"]["id"]
    before = await gql(CONTACT_COUNT, {"id": customer_id}, as_=ACME_ADMIN)
    # when
    result = await gql(CREATE_CONTACT, {"input": {"customerId": customer_id, "name": _unique("Spy")}})
    # then
    assert _error_code(result) == "NOT_FOUND"
    after = await gql(CONTACT_COUNT, {"id": customer_id}, as_=ACME_ADMIN)
    assert after == before


@pytest.mark.parametrize(("query", "record"), [
    (CUSTOMER_BY_ID, "customer"),
    (OPPORTUNITY_BY_ID, "opportunity"),
    (NODE, "customer"),
    (NODE, "opportunity"),
    (NODE, "user"),
    (NODE, "org"),
], ids=["customer", "opportunity", "node-customer", "node-opportunity", "node-user", "node-org"])
async def test_reading_another_orgs_record_is_not_found(gql, acme, query, record):
    # given
    record_id = acme[record]["id"] if isinstance(acme[record], dict) else acme[record]
    # when
    result = await gql(query, {"id": record_id})
    # then
    assert _error_code(result) == "NOT_FOUND"
    assert result["data"] == {"record": None}


async def test_updating_another_orgs_customer_is_not_found_and_changes_nothing(gql, acme):
    # given
    target = acme["customer"]
    # when
    result = await gql(UPDATE_CUSTOMER, {"input": {"id": target["id"], "version": target["version"],
                                                   "name": "Taken over"}})
    # then
    assert _error_code(result) == "NOT_FOUND"
    after = await read_customer(gql, target["id"], as_=ACME_ADMIN)
    assert (after["name"], after["version"]) == (target["name"], target["version"])


async def test_updating_another_orgs_opportunity_is_not_found_and_changes_nothing(gql, acme):
    # given
    target = acme["opportunity"]
    # when
    result = await gql(UPDATE_OPPORTUNITY, {"input": {"id": target["id"], "version": target["version"],
                                                      "amount": "1.00"}})
    # then
    assert _error_code(result) == "NOT_FOUND"
    after = await read_opportunity(gql, target["id"], as_=ACME_ADMIN)
    assert (after["amount"], after["version"]) == (target["amount"], target["version"])


async def test_moving_another_orgs_opportunity_is_not_found_and_changes_nothing(gql, acme):
    # given
    target = acme["opportunity"]
    # when
    result = await gql(MOVE_STAGE, {"input": {"id": target["id"], "version": target["version"],
                                              "stage": "lost", "lostReason": "sabotage"}})
    # then
    assert _error_code(result) == "NOT_FOUND"
    after = await read_opportunity(gql, target["id"], as_=ACME_ADMIN)
    assert (after["stage"], after["version"]) == (target["stage"], target["version"])


async def test_opportunity_for_another_orgs_customer_is_not_found(gql, acme):
    # given
    before = await gql(OPPORTUNITY_COUNT, {"customerId": acme["customer"]["id"]}, as_=ACME_ADMIN)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": acme["customer"]["id"], "name": "Poach"}})
    # then
    assert _error_code(result) == "NOT_FOUND"
    assert await gql(OPPORTUNITY_COUNT, {"customerId": acme["customer"]["id"]}, as_=ACME_ADMIN) == before


# ---- garbage ids ------------------------------------------------------------------------------------------------


GARBAGE_IDS = [
    "garbage",
    "",
    "!!!!",
    "Q3VzdG9tZXI6",  # "Customer:"
    _global_id("Customer", "abc"),
    _global_id("Customer", "-1"),
    _global_id("Customer", "1.5"),
    _global_id("Customer", "9" * 19),
    _global_id("Customer", "999999999999999999"),
    _global_id("Nope", 1),
    "Customer:1",
    "Zm9v" * 200,
]
GARBAGE_IDS_NAMES = ["word", "empty", "punctuation", "no-pk", "letters-pk", "negative-pk", "decimal-pk",
                     "pk-too-long", "pk-not-found", "unknown-type", "not-encoded", "long"]


@pytest.mark.parametrize("query", [CUSTOMER_BY_ID, OPPORTUNITY_BY_ID, NODE], ids=["customer", "opportunity", "node"])
@pytest.mark.parametrize("garbage", GARBAGE_IDS, ids=GARBAGE_IDS_NAMES)
async def test_garbage_id_is_not_found(gql, query, garbage):
    # when
    result = await gql(query, {"id": garbage})
    # then
    assert _error_code(result) == "NOT_FOUND"
    assert result["data"] == {"record": None}


async def test_id_of_another_type_is_not_found(gql):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(CUSTOMER_BY_ID, {"id": opportunity["id"]})
    # then
    assert _error_code(result) == "NOT_FOUND"


@pytest.mark.parametrize("garbage", ["garbage", _global_id("Customer", "abc"), _global_id("Lead", 1)],
                         ids=["word", "letters-pk", "other-type"])
async def test_garbage_ids_in_mutations_are_not_found_and_create_nothing(gql, garbage):
    # given
    name = _unique("Nowhere")
    # when
    results = [
        await gql(CREATE_OPPORTUNITY, {"input": {"customerId": garbage, "name": name}}),
        await gql(CREATE_CONTACT, {"input": {"customerId": garbage, "name": name}}),
        await gql(UPDATE_CUSTOMER, {"input": {"id": garbage, "version": 1, "name": name}}),
        await gql(UPDATE_OPPORTUNITY, {"input": {"id": garbage, "version": 1, "name": name}}),
        await gql(MOVE_STAGE, {"input": {"id": garbage, "version": 1, "stage": "proposal"}}),
    ]
    # then
    assert [_error_code(r) for r in results] == ["NOT_FOUND"] * 5
    assert await customer_count(gql, name) == 0


# ---- stages -----------------------------------------------------------------------------------------------------


async def test_unknown_stage_on_create_is_invalid_stage_and_creates_nothing(gql):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": _unique("Deal"),
                                                      "stage": "signed_in_blood"}})
    # then
    assert _user_errors(result, "createOpportunity") == [(["stage"], "INVALID_STAGE")]
    assert result["data"]["createOpportunity"]["opportunity"] is None
    assert await opportunity_count(gql, customer["id"]) == 0


async def test_created_as_lost_without_a_reason_is_lost_reason_required(gql):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": _unique("Deal"),
                                                      "stage": "lost"}})
    # then
    assert _user_errors(result, "createOpportunity") == [(["lostReason"], "LOST_REASON_REQUIRED")]
    assert await opportunity_count(gql, customer["id"]) == 0


async def test_move_to_unknown_stage_is_invalid_stage_and_changes_nothing(gql):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                              "stage": "PROPOSAL"}})
    # then
    assert _user_errors(result, "moveOpportunityStage") == [(["stage"], "INVALID_STAGE")]
    after = await read_opportunity(gql, opportunity["id"])
    assert (after["stage"], after["version"]) == ("initial_contact", opportunity["version"])


@pytest.mark.parametrize("lost_reason", [None, "", "   ", "\u3000"], ids=["absent", "empty", "blank", "ideographic"])
async def test_move_to_lost_without_a_reason_is_refused_and_stage_unchanged(gql, lost_reason):
    # given
    opportunity = await new_opportunity(gql)
    data = {"id": opportunity["id"], "version": opportunity["version"], "stage": "lost"}
    if lost_reason is not None:
        data["lostReason"] = lost_reason
    # when
    result = await gql(MOVE_STAGE, {"input": data})
    # then
    assert _user_errors(result, "moveOpportunityStage") == [(["lostReason"], "LOST_REASON_REQUIRED")]
    after = await read_opportunity(gql, opportunity["id"])
    assert (after["stage"], after["lostReason"], after["version"]) == ("initial_contact", None, opportunity["version"])


async def test_move_to_the_current_stage_is_stage_unchanged(gql):
    # given
    opportunity = await new_opportunity(gql)
    # when
    result = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                              "stage": "initial_contact"}})
    # then
    assert _user_errors(result, "moveOpportunityStage") == [(["stage"], "STAGE_UNCHANGED")]
    assert (await read_opportunity(gql, opportunity["id"]))["version"] == opportunity["version"]


# ---- money ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency"), [
    ("-1.00", None),
    ("-0.01", "USD"),
    ("1.001", "CNY"),
    ("1.5", "JPY"),
    ("0.0001", "KWD"),
    ("1000000000000000", "CNY"),
], ids=["negative", "negative-cent", "three-decimals-cny", "decimals-jpy", "four-decimals-kwd", "too-large"])
async def test_bad_amount_is_invalid_amount_and_creates_nothing(gql, amount, currency):
    # given
    customer = await new_customer(gql)
    data = {"customerId": customer["id"], "name": _unique("Deal"), "amount": amount}
    if currency:
        data["currency"] = currency
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": data})
    # then
    assert _user_errors(result, "createOpportunity") == [(["amount"], "INVALID_AMOUNT")]
    assert await opportunity_count(gql, customer["id"]) == 0


@pytest.mark.parametrize(("amount", "currency", "stored"), [
    ("1.001", "KWD", "1.001"),
    ("1200000", "CNY", "1200000.00"),
    ("15", "JPY", "15"),
    ("0", "usd", "0.00"),
], ids=["three-decimals-kwd", "integer-cny", "integer-jpy", "lower-case-currency"])
async def test_amounts_within_the_currency_minor_unit_are_accepted(gql, amount, currency, stored):
    # when
    opportunity = await new_opportunity(gql, amount=amount, currency=currency)
    # then
    assert (opportunity["amount"], opportunity["currency"]) == (stored, currency.upper())


@pytest.mark.parametrize("amount", ["abc", "", "1,000.00", "NaN", "Infinity", "0x10"],
                         ids=["letters", "empty", "thousands-separator", "nan", "infinity", "hex"])
async def test_non_numeric_amount_in_variables_is_bad_user_input(gql, amount):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": _unique("Deal"),
                                                      "amount": amount}})
    # then
    assert _error_code(result) == "BAD_USER_INPUT"
    assert result.get("data") is None
    assert await opportunity_count(gql, customer["id"]) == 0


@pytest.mark.parametrize("amount", [1.5, 1200000.0, True, [1], {"value": "1"}],
                         ids=["float", "whole-float", "boolean", "list", "object"])
async def test_amount_that_is_not_a_string_or_integer_in_variables_is_bad_user_input(gql, amount):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": _unique("Deal"),
                                                      "amount": amount}})
    # then
    assert _error_code(result) == "BAD_USER_INPUT"
    assert await opportunity_count(gql, customer["id"]) == 0


@pytest.mark.parametrize("literal", ['"abc"', "1.5", "true"], ids=["letters", "float", "boolean"])
async def test_bad_amount_literal_in_the_document_is_bad_user_input(gql, literal):
    # given
    customer = await new_customer(gql)
    document = CREATE_OPPORTUNITY_WITH_AMOUNT_LITERAL.replace("AMOUNT", literal)
    # when
    result = await gql(document, {"customerId": customer["id"]})
    # then
    assert {e["extensions"]["code"] for e in result["errors"]} == {"BAD_USER_INPUT"}
    assert await opportunity_count(gql, customer["id"]) == 0


@pytest.mark.parametrize("currency", ["XYZ", "RMB", "US", "", "€"], ids=["xyz", "rmb", "two-letters", "empty", "sign"])
async def test_unknown_currency_is_invalid_currency_and_creates_nothing(gql, currency):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": _unique("Deal"),
                                                      "amount": "10.00", "currency": currency}})
    # then
    assert _user_errors(result, "createOpportunity") == [(["currency"], "INVALID_CURRENCY")]
    assert await opportunity_count(gql, customer["id"]) == 0


async def test_negative_amount_on_update_is_invalid_amount_and_changes_nothing(gql):
    # given
    opportunity = await new_opportunity(gql, amount="500.00")
    # when
    result = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                                      "amount": "-500.00"}})
    # then
    assert _user_errors(result, "updateOpportunity") == [(["amount"], "INVALID_AMOUNT")]
    after = await read_opportunity(gql, opportunity["id"])
    assert (after["amount"], after["version"]) == ("500.00", opportunity["version"])


async def test_negative_credit_limit_is_invalid_amount(gql):
    # given
    name = _unique("Credit")
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": name, "creditLimit": "-1.00"}})
    # then
    assert _user_errors(result, "createCustomer") == [(["creditLimit"], "INVALID_AMOUNT")]
    assert await customer_count(gql, name) == 0


# ---- lengths ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["a", "名", "😀"], ids=["ascii", "chinese", "emoji"])
async def test_customer_name_over_200_characters_is_too_long_and_creates_nothing(gql, char):
    # given
    marker = uuid.uuid4().hex
    name = marker + char * (201 - len(marker))
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": name}})
    # then
    assert _user_errors(result, "createCustomer") == [(["name"], "TOO_LONG")]
    assert await customer_count(gql, marker) == 0


@pytest.mark.parametrize("char", ["a", "名", "😀"], ids=["ascii", "chinese", "emoji"])
async def test_customer_name_of_exactly_200_characters_is_accepted(gql, char):
    # given
    marker = uuid.uuid4().hex
    name = marker + char * (200 - len(marker))
    # when
    customer = await new_customer(gql, name=name)
    # then
    assert (await read_customer(gql, customer["id"]))["name"] == name


async def test_over_long_name_on_update_is_too_long_and_changes_nothing(gql):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(UPDATE_CUSTOMER, {"input": {"id": customer["id"], "version": customer["version"],
                                                   "name": "x" * 201}})
    # then
    assert _user_errors(result, "updateCustomer") == [(["name"], "TOO_LONG")]
    after = await read_customer(gql, customer["id"])
    assert (after["name"], after["version"]) == (customer["name"], customer["version"])


async def test_over_long_opportunity_name_is_too_long(gql):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": "机" * 201}})
    # then
    assert _user_errors(result, "createOpportunity") == [(["name"], "TOO_LONG")]
    assert await opportunity_count(gql, customer["id"]) == 0


@pytest.mark.parametrize("name", ["", "   ", "\u3000\u3000"], ids=["empty", "blank", "ideographic-spaces"])
async def test_blank_customer_name_is_required(gql, name):
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": name}})
    # then
    assert _user_errors(result, "createCustomer") == [(["name"], "REQUIRED")]


# ---- custom fields ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("custom_fields", "expected"), [
    ({"budget": 12.5}, (["customFields", "budget"], "INVALID_CUSTOM_FIELD")),
    ({"budget": "lots"}, (["customFields", "budget"], "INVALID_CUSTOM_FIELD")),
    ({"budget": True}, (["customFields", "budget"], "INVALID_CUSTOM_FIELD")),
    ({"decision_maker": 42}, (["customFields", "decision_maker"], "INVALID_CUSTOM_FIELD")),
    ({"competitor": "Microsoft"}, (["customFields", "competitor"], "INVALID_CUSTOM_FIELD")),
    ({"competitor": "sap"}, (["customFields", "competitor"], "INVALID_CUSTOM_FIELD")),
    ({"competitor": ["SAP"]}, (["customFields", "competitor"], "INVALID_CUSTOM_FIELD")),
    ({"colour": "red"}, (["customFields", "colour"], "UNKNOWN_CUSTOM_FIELD")),
    ({"region": "华东"}, (["customFields", "region"], "UNKNOWN_CUSTOM_FIELD")),
    ([1, 2], (["customFields"], "INVALID_CUSTOM_FIELD")),
    ("budget", (["customFields"], "INVALID_CUSTOM_FIELD")),
], ids=["money-float", "money-word", "money-boolean", "text-number", "choice-unknown", "choice-wrong-case",
        "choice-list", "undefined-key", "customer-key-on-opportunity", "list", "string"])
async def test_bad_opportunity_custom_field_is_reported_and_creates_nothing(gql, custom_fields, expected):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": _unique("Deal"),
                                                      "customFields": custom_fields}})
    # then
    assert _user_errors(result, "createOpportunity") == [expected]
    assert await opportunity_count(gql, customer["id"]) == 0


@pytest.mark.parametrize(("custom_fields", "expected"), [
    ({"region": 5}, (["customFields", "region"], "INVALID_CUSTOM_FIELD")),
    ({"region": "x" * 2001}, (["customFields", "region"], "INVALID_CUSTOM_FIELD")),
    ({"budget": "100.00"}, (["customFields", "budget"], "UNKNOWN_CUSTOM_FIELD")),
], ids=["text-number", "text-too-long", "opportunity-key-on-customer"])
async def test_bad_customer_custom_field_is_reported_and_creates_nothing(gql, custom_fields, expected):
    # given
    name = _unique("Custom")
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": name, "customFields": custom_fields}})
    # then
    assert _user_errors(result, "createCustomer") == [expected]
    assert await customer_count(gql, name) == 0


async def test_valid_custom_fields_are_stored(gql):
    # when
    opportunity = await new_opportunity(gql, customFields={"budget": "1200.50", "decision_maker": "张伟",
                                                           "competitor": "金蝶"})
    # then
    after = await read_opportunity(gql, opportunity["id"])
    assert after["customFields"] == {"budget": "1200.50", "decision_maker": "张伟", "competitor": "金蝶"}


async def test_bad_custom_field_on_update_changes_nothing(gql):
    # given
    opportunity = await new_opportunity(gql, customFields={"competitor": "SAP"})
    # when
    result = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                                      "customFields": {"competitor": "Microsoft", "colour": "red"}}})
    # then
    assert sorted(_user_errors(result, "updateOpportunity")) == [
        (["customFields", "colour"], "UNKNOWN_CUSTOM_FIELD"),
        (["customFields", "competitor"], "INVALID_CUSTOM_FIELD"),
    ]
    after = await read_opportunity(gql, opportunity["id"])
    assert (after["customFields"], after["version"]) == ({"competitor": "SAP"}, opportunity["version"])


# ---- stale versions ---------------------------------------------------------------------------------------------


async def test_stale_version_on_update_customer_is_conflict_and_changes_nothing(gql):
    # given
    customer = await new_customer(gql)
    first = await gql(UPDATE_CUSTOMER, {"input": {"id": customer["id"], "version": customer["version"],
                                                  "name": "First writer"}})
    assert first["data"]["updateCustomer"]["userErrors"] == []
    # when
    result = await gql(UPDATE_CUSTOMER, {"input": {"id": customer["id"], "version": customer["version"],
                                                   "name": "Second writer"}})
    # then
    assert _error_code(result) == "CONFLICT"
    after = await read_customer(gql, customer["id"])
    assert (after["name"], after["version"]) == ("First writer", customer["version"] + 1)


async def test_stale_version_on_update_opportunity_is_conflict_and_changes_nothing(gql):
    # given
    opportunity = await new_opportunity(gql, amount="100.00")
    first = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                                     "amount": "200.00"}})
    assert first["data"]["updateOpportunity"]["userErrors"] == []
    # when
    result = await gql(UPDATE_OPPORTUNITY, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                                      "amount": "300.00"}})
    # then
    assert _error_code(result) == "CONFLICT"
    after = await read_opportunity(gql, opportunity["id"])
    assert (after["amount"], after["version"]) == ("200.00", opportunity["version"] + 1)


async def test_stale_version_on_move_stage_is_conflict_and_changes_nothing(gql):
    # given
    opportunity = await new_opportunity(gql)
    first = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                             "stage": "proposal"}})
    assert first["data"]["moveOpportunityStage"]["userErrors"] == []
    # when
    result = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                              "stage": "negotiation"}})
    # then
    assert _error_code(result) == "CONFLICT"
    after = await read_opportunity(gql, opportunity["id"])
    assert (after["stage"], after["version"]) == ("proposal", opportunity["version"] + 1)


@pytest.mark.parametrize("version", [0, -1, 999], ids=["zero", "negative", "future"])
async def test_version_never_handed_out_is_conflict(gql, version):
    # given
    customer = await new_customer(gql)
    # when
    result = await gql(UPDATE_CUSTOMER, {"input": {"id": customer["id"], "version": version, "name": "Nope"}})
    # then
    assert _error_code(result) == "CONFLICT"
    assert (await read_customer(gql, customer["id"]))["name"] == customer["name"]


# ---- several errors at once -------------------------------------------------------------------------------------


async def test_every_error_on_a_create_opportunity_is_reported_at_once(gql):
    # given
    customer = await new_customer(gql)
    data = {"customerId": customer["id"], "name": "x" * 201, "currency": "XYZ", "amount": "-5", "stage": "nope",
            "probability": 150, "customFields": {"colour": 1, "competitor": "Microsoft"}}
    # when
    result = await gql(CREATE_OPPORTUNITY, {"input": data})
    # then
    assert sorted(_user_errors(result, "createOpportunity")) == sorted([
        (["name"], "TOO_LONG"),
        (["currency"], "INVALID_CURRENCY"),
        (["amount"], "INVALID_AMOUNT"),
        (["stage"], "INVALID_STAGE"),
        (["probability"], "INVALID_PROBABILITY"),
        (["customFields", "colour"], "UNKNOWN_CUSTOM_FIELD"),
        (["customFields", "competitor"], "INVALID_CUSTOM_FIELD"),
    ])
    assert await opportunity_count(gql, customer["id"]) == 0


async def test_every_error_on_a_create_customer_is_reported_at_once(gql):
    # given
    marker = uuid.uuid4().hex
    data = {"name": marker + "x" * 200, "tags": ["", "t" * 51], "industry": "i" * 101, "creditLimit": "-1",
            "customFields": {"region": 5, "colour": "red"}}
    # when
    result = await gql(CREATE_CUSTOMER, {"input": data})
    # then
    assert sorted(_user_errors(result, "createCustomer")) == sorted([
        (["name"], "TOO_LONG"),
        (["tags", "0"], "REQUIRED"),
        (["tags", "1"], "TOO_LONG"),
        (["industry"], "TOO_LONG"),
        (["creditLimit"], "INVALID_AMOUNT"),
        (["customFields", "region"], "INVALID_CUSTOM_FIELD"),
        (["customFields", "colour"], "UNKNOWN_CUSTOM_FIELD"),
    ])
    assert await customer_count(gql, marker) == 0


# ---- idempotency keys -------------------------------------------------------------------------------------------


async def test_retry_with_the_same_idempotency_key_returns_the_first_result(gql):
    # given
    key, name = uuid.uuid4().hex, _unique("Retry")
    first = await gql(CREATE_CUSTOMER, {"input": {"name": name, "idempotencyKey": key}})
    # when
    second = await gql(CREATE_CUSTOMER, {"input": {"name": name, "idempotencyKey": key}})
    # then
    assert second["data"]["createCustomer"]["customer"]["id"] == first["data"]["createCustomer"]["customer"]["id"]
    assert await customer_count(gql, name) == 1


async def test_idempotency_key_reused_with_another_input_is_refused(gql):
    # given
    key, name, other = uuid.uuid4().hex, _unique("Original"), _unique("Different")
    first = await gql(CREATE_CUSTOMER, {"input": {"name": name, "idempotencyKey": key}})
    assert first["data"]["createCustomer"]["userErrors"] == []
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": other, "idempotencyKey": key}})
    # then
    assert _error_code(result) == "IDEMPOTENCY_KEY_REUSED"
    assert await customer_count(gql, name) == 1
    assert await customer_count(gql, other) == 0


async def test_idempotency_key_reused_for_another_operation_is_refused(gql):
    # given
    key = uuid.uuid4().hex
    await new_customer(gql, idempotencyKey=key)
    # when
    result = await gql(CREATE_LEAD, {"input": {"name": _unique("Lead"), "idempotencyKey": key}})
    # then
    assert _error_code(result) == "IDEMPOTENCY_KEY_REUSED"


async def test_idempotency_keys_belong_to_their_user(gql):
    # given
    key = uuid.uuid4().hex
    name = _unique("Shared key")
    # when
    mine = await new_customer(gql, as_="rep1@demo.test", name=name, idempotencyKey=key)
    theirs = await new_customer(gql, as_="rep2@demo.test", name=name, idempotencyKey=key)
    # then
    assert mine["id"] != theirs["id"]


async def test_over_long_idempotency_key_is_invalid(gql):
    # given
    name = _unique("Long key")
    # when
    result = await gql(CREATE_CUSTOMER, {"input": {"name": name, "idempotencyKey": "k" * 201}})
    # then
    assert _user_errors(result, "createCustomer") == [(["idempotencyKey"], "INVALID")]
    assert await customer_count(gql, name) == 0


async def test_twenty_parallel_creates_with_one_idempotency_key_execute_once(gql):
    # given
    key, name = uuid.uuid4().hex, _unique("Parallel")
    variables = {"input": {"name": name, "idempotencyKey": key}}
    # when
    results = await asyncio.gather(*(gql(CREATE_CUSTOMER, variables) for _ in range(20)))
    # then
    assert all("errors" not in r for r in results), [r.get("errors") for r in results]
    ids = {r["data"]["createCustomer"]["customer"]["id"] for r in results}
    assert len(ids) == 1
    assert await customer_count(gql, name) == 1


# ---- text round-trips -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "深圳市腾飞软件有限公司",
    "ＡＢＣ　全角　株式会社",
    "Café 🚀 火箭",
    "👩‍💻 𠮷野家 – “quotes” ‘and’ ´accents´",
    "عربى עברית русский",
    "O'Brien & Sons <b>\"Ltd\"</b> 100% _x_ \\ ;--",
], ids=["chinese", "full-width", "emoji", "zwj-and-astral", "rtl-and-cyrillic", "markup-and-sql"])
async def test_unicode_text_round_trips_unchanged(gql, text):
    # given
    name = f"{text} {uuid.uuid4().hex[:8]}"
    data = {"name": name, "industry": text[:100], "tags": [text[:50], "华南"], "customFields": {"region": text}}
    # when
    created = await new_customer(gql, **data)
    # then
    found = await read_customer(gql, created["id"])
    assert found["name"] == name
    assert found["industry"] == text[:100]
    assert found["tags"] == [text[:50], "华南"]
    assert found["customFields"] == {"region": text}
    assert await customer_count(gql, name) == 1
