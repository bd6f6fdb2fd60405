"""Customers and opportunities made over the GraphQL API, and what people do on them (stage moves, comments,
calls)."""

from __future__ import annotations

from typing import Any

from tests.factories.api.answers import ok
from tests.factories.api.users import REP1
from tests.factories.names import unique

CREATE_CUSTOMER = """
mutation ($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name } userErrors { field code } }
}"""
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id name amount currency version } userErrors { field code } }
}"""
MOVE_STAGE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) { opportunity { id version } userErrors { field code } }
}"""
ADD_COMMENT = """
mutation ($input: AddCommentInput!) {
  addComment(input: $input) { comment { id } userErrors { field code } }
}"""
LOG_INTERACTION = """
mutation ($input: LogInteractionInput!) {
  logInteraction(input: $input) { interaction { id } userErrors { field code } }
}"""


async def new_customer(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """A fresh customer of ``as_``: ``id`` and ``name``."""
    result = await gql(CREATE_CUSTOMER, {"input": {"name": unique("客户 Customer"), **overrides}}, as_=as_)
    return ok(result, "createCustomer")["customer"]


async def new_opportunity(gql: Any, *, as_: str = REP1, **overrides: Any) -> dict[str, Any]:
    """A fresh opportunity (in initial_contact, on a fresh customer unless ``customerId`` is given):
    ``id name amount currency version customerId``."""
    customer_id = overrides.pop("customerId", None) or (await new_customer(gql, as_=as_))["id"]
    fields = {"customerId": customer_id, "name": unique("Deal"), "amount": "100000.00", **overrides}
    opportunity = ok(await gql(CREATE_OPPORTUNITY, {"input": fields}, as_=as_), "createOpportunity")["opportunity"]
    return {**opportunity, "customerId": customer_id}


async def move_stage(gql: Any, opportunity: dict[str, Any], stage: str, *, as_: str = REP1) -> None:
    """Moves the opportunity and keeps its ``version`` up to date."""
    result = await gql(MOVE_STAGE, {"input": {"id": opportunity["id"], "version": opportunity["version"],
                                              "stage": stage}}, as_=as_)
    opportunity["version"] = ok(result, "moveOpportunityStage")["opportunity"]["version"]


async def post_comment(gql: Any, record_id: str, body: str, *, as_: str = REP1) -> str:
    """The id of a new comment on the record."""
    result = await gql(ADD_COMMENT, {"input": {"recordId": record_id, "body": body}}, as_=as_)
    return ok(result, "addComment")["comment"]["id"]


async def log_call(gql: Any, opportunity: dict[str, Any], summary: str, *, as_: str = REP1) -> None:
    """A call logged on the opportunity (and its customer)."""
    result = await gql(LOG_INTERACTION, {"input": {"customerId": opportunity["customerId"], "kind": "CALL",
                                                   "opportunityId": opportunity["id"], "summary": summary}}, as_=as_)
    ok(result, "logInteraction")
