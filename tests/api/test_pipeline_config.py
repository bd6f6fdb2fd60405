"""The configuration a sales org changes every month, through the API: pipelines per business line and
their stages, custom fields whose visibility is the field-level permissions', structured lost reasons and
competitors. Admins configure; everyone else is refused."""

from __future__ import annotations

from typing import Any

from tests.factories.api.answers import error_code, ok, user_errors
from tests.factories.api.crm import new_customer, new_opportunity
from tests.factories.api.users import ACME_ADMIN, ADMIN, MANAGER, REP1
from tests.factories.names import unique
from tests.factories.realtime import feed_end, positioned

CREATE_PIPELINE = """
mutation ($input: CreatePipelineInput!) {
  createPipeline(input: $input) { pipeline { id key name isDefault stages { key } } userErrors { field code } }
}"""
DEFINE_STAGE = """
mutation ($input: DefinePipelineStageInput!) {
  definePipelineStage(input: $input) {
    pipeline { id stages { key label order defaultProbability isWon isLost isClosed requiredFields } }
    stage { key label order }
    userErrors { field code message }
  }
}"""
REMOVE_STAGE = """
mutation ($input: RemovePipelineStageInput!) {
  removePipelineStage(input: $input) { pipeline { stages { key } } userErrors { field code } }
}"""
PIPELINES = "{ pipelines { id key name isDefault stages { key label order isWon isLost requiredFields } } }"
DEFINE_FIELD = """
mutation ($input: DefineCustomFieldInput!) {
  defineCustomField(input: $input) {
    customField { objectType key label type options required visibleToRoles }
    userErrors { field code }
  }
}"""
DEFINITIONS = """
query ($t: CustomFieldObjectType!) { customFieldDefinitions(objectType: $t) { key label type visibleToRoles } }"""
CREATE_OPPORTUNITY = """
mutation ($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) {
    opportunity { id version stage pipeline { key } }
    userErrors { field code }
  }
}"""
UPDATE = """
mutation ($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity { id version customFields competitors { name } }
    userErrors { field code }
  }
}"""
MOVE = """
mutation ($input: MoveOpportunityStageInput!) {
  moveOpportunityStage(input: $input) {
    opportunity { id version stage probability lostReason lostReasonOption { key label } }
    userErrors { field code message }
  }
}"""
OPPORTUNITY = """
query ($id: ID!) {
  opportunity(id: $id) { id version stage customFields pipeline { key } competitors { name website } }
}"""
DEFINE_LOST_REASON = """
mutation ($input: DefineLostReasonInput!) {
  defineLostReason(input: $input) { lostReason { id key label } userErrors { field code } }
}"""
CREATE_COMPETITOR = """
mutation ($input: CreateCompetitorInput!) {
  createCompetitor(input: $input) { competitor { id name website } userErrors { field code } }
}"""
FEED = """
query ($after: String) { changeEvents(after: $after, first: 100, types: ["Opportunity"]) {
  events { topic recordId payload } } }"""


async def new_pipeline(gql: Any, *, name: str | None = None) -> dict[str, Any]:
    """A pipeline of the demo org with an open stage ``qualify``, ``won`` and ``lost``."""
    pipeline = ok(await gql(CREATE_PIPELINE, {"input": {"name": name or unique("项目交付线")}}, as_=ADMIN),
                  "createPipeline")["pipeline"]
    for order, (key, label, probability, won, lost) in enumerate((
            ("qualify", "需求确认", 20, False, False), ("won", "赢单", 100, True, False),
            ("lost", "丢单", 0, False, True)), start=1):
        await define_stage(gql, pipeline, key=key, label=label, order=order, defaultProbability=probability,
                           isWon=won, isLost=lost)
    return pipeline


async def define_stage(gql: Any, pipeline: dict[str, Any], *, as_: str = ADMIN, **fields: Any) -> dict[str, Any]:
    result = await gql(DEFINE_STAGE, {"input": {"pipelineId": pipeline["id"], **fields}}, as_=as_)
    return ok(result, "definePipelineStage")


async def deal_in(gql: Any, pipeline: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    customer = await new_customer(gql)
    fields = {"customerId": customer["id"], "name": unique("项目"), "amount": "500000.00",
              "pipelineId": pipeline["id"], **overrides}
    return ok(await gql(CREATE_OPPORTUNITY, {"input": fields}), "createOpportunity")["opportunity"]


async def move(gql: Any, deal: dict[str, Any], stage: str, *, as_: str = REP1, **fields: Any) -> dict[str, Any]:
    return await gql(MOVE, {"input": {"id": deal["id"], "version": deal["version"], "stage": stage, **fields}},
                     as_=as_)


async def pipelines(gql: Any, *, as_: str = REP1) -> dict[str, dict[str, Any]]:
    return {p["key"]: p for p in (await gql(PIPELINES, as_=as_))["data"]["pipelines"]}


# --- pipelines and stages --------------------------------------------------------------------------


async def test_an_admin_defines_a_pipeline_with_stages_and_everyone_sees_it(gql):
    # when the admin adds a pipeline for a business line, with its stages in Chinese
    pipeline = await new_pipeline(gql, name=unique("系统集成业务线"))
    # then everyone sees it, its stages in order, the default pipeline still first and the default
    seen = await pipelines(gql)
    mine = seen[pipeline["key"]]
    assert mine["name"] == pipeline["name"] and mine["isDefault"] is False
    assert [(s["key"], s["label"], s["order"], s["isWon"], s["isLost"]) for s in mine["stages"]] == [
        ("qualify", "需求确认", 1, False, False), ("won", "赢单", 2, True, False), ("lost", "丢单", 3, False, True)]
    first = (await gql(PIPELINES))["data"]["pipelines"][0]
    assert first["key"] == "default" and first["isDefault"] is True
    # and a deal can run through it
    deal = await deal_in(gql, pipeline)
    assert (deal["stage"], deal["pipeline"]) == ("qualify", {"key": pipeline["key"]})


async def test_a_rep_cannot_configure_pipelines(gql):
    # given a pipeline of the admin's
    pipeline = await new_pipeline(gql)
    # when a rep tries to add a pipeline or a stage, then both are refused whole
    assert error_code(await gql(CREATE_PIPELINE, {"input": {"name": "我的流程"}}, as_=REP1)) == "FORBIDDEN"
    refused = await gql(DEFINE_STAGE, {"input": {"pipelineId": pipeline["id"], "key": "extra", "label": "额外",
                                                 "order": 1, "defaultProbability": 5}}, as_=MANAGER)
    assert error_code(refused) == "FORBIDDEN"
    # and nothing changed
    assert [s["key"] for s in (await pipelines(gql))[pipeline["key"]]["stages"]] == ["qualify", "won", "lost"]


async def test_a_stage_definition_is_checked_and_a_bad_one_changes_nothing(gql):
    # given a pipeline with its won and lost stages
    pipeline = await new_pipeline(gql)
    base = {"pipelineId": pipeline["id"], "key": "proposal", "label": "方案", "order": 2, "defaultProbability": 40}
    cases = [
        ({"defaultProbability": 101}, (["defaultProbability"], "INVALID_PROBABILITY")),
        ({"key": "方案 stage"}, (["key"], "INVALID_CONFIG_KEY")),
        ({"order": 0}, (["order"], "INVALID_STAGE_ORDER")),
        ({"isWon": True}, (["isWon"], "DUPLICATE_WON_STAGE")),
        ({"isLost": True}, (["isLost"], "DUPLICATE_LOST_STAGE")),
        ({"isWon": True, "isLost": True, "key": "won"}, (["isLost"], "INVALID_STAGE_FLAGS")),
        ({"requiredFields": ["favouriteColour"]}, (["requiredFields", "0"], "UNKNOWN_REQUIRED_FIELD")),
    ]
    for change, expected in cases:
        # when the admin defines a stage badly
        result = await gql(DEFINE_STAGE, {"input": {**base, **change}}, as_=ADMIN)
        # then it is refused with the rule's code
        assert expected in user_errors(result, "definePipelineStage"), (change, result)
    # and the pipeline is as it was
    assert [s["key"] for s in (await pipelines(gql))[pipeline["key"]]["stages"]] == ["qualify", "won", "lost"]
    # and a pipeline without a won and a lost stage takes no deal
    bare = ok(await gql(CREATE_PIPELINE, {"input": {"name": unique("空流程")}}, as_=ADMIN), "createPipeline")
    customer = await new_customer(gql)
    refused = await gql(CREATE_OPPORTUNITY, {"input": {"customerId": customer["id"], "name": "x",
                                                       "pipelineId": bare["pipeline"]["id"]}})
    assert user_errors(refused, "createOpportunity") == [(["pipelineId"], "PIPELINE_INCOMPLETE")]


async def test_a_deal_enters_a_stage_only_with_the_fields_it_requires(gql):
    # given an opportunity custom field and a stage requiring it and an expected close date
    key = unique("budgetCode").replace(" ", "_")
    ok(await gql(DEFINE_FIELD, {"input": {"objectType": "OPPORTUNITY", "key": key, "label": "预算编号",
                                          "type": "TEXT"}}, as_=ADMIN), "defineCustomField")
    pipeline = await new_pipeline(gql)
    await define_stage(gql, pipeline, key="proposal", label="方案报价", order=2, defaultProbability=50,
                       requiredFields=["expectedCloseDate", f"customFields.{key}"])
    deal = await deal_in(gql, pipeline)
    # when the rep moves the deal into it without them
    refused = await move(gql, deal, "proposal")
    # then the move is refused, naming each missing field, and the deal stays
    assert user_errors(refused, "moveOpportunityStage") == [
        (["expectedCloseDate"], "STAGE_FIELDS_MISSING"), (["customFields", key], "STAGE_FIELDS_MISSING")]
    assert (await gql(OPPORTUNITY, {"id": deal["id"]}))["data"]["opportunity"]["stage"] == "qualify"
    # when they fill them in, then it moves, with the stage's default probability
    filled = ok(await gql(UPDATE, {"input": {"id": deal["id"], "version": deal["version"],
                                             "expectedCloseDate": "2027-03-31", "customFields": {key: "BJ-2027-01"}}}),
                "updateOpportunity")["opportunity"]
    moved = ok(await move(gql, filled, "proposal"), "moveOpportunityStage")["opportunity"]
    assert (moved["stage"], moved["probability"]) == ("proposal", 50)


async def test_relabelling_and_reordering_stages_keeps_deals_working(gql):
    # given a deal in a stage of a pipeline
    pipeline = await new_pipeline(gql)
    await define_stage(gql, pipeline, key="proposal", label="方案", order=2, defaultProbability=40)
    deal = await deal_in(gql, pipeline, stage="proposal")
    # when the admin relabels the stage and moves it to the front
    defined = await define_stage(gql, pipeline, key="proposal", label="方案与报价（新）", order=1,
                                 defaultProbability=45)
    # then the pipeline shows the new order and label
    assert [(s["key"], s["order"]) for s in defined["pipeline"]["stages"]] == [
        ("proposal", 1), ("qualify", 2), ("won", 3), ("lost", 4)]
    assert defined["stage"] == {"key": "proposal", "label": "方案与报价（新）", "order": 1}
    # and the deal is where it was, and moves on and is won as before
    assert (await gql(OPPORTUNITY, {"id": deal["id"]}))["data"]["opportunity"]["stage"] == "proposal"
    deal = ok(await move(gql, deal, "qualify"), "moveOpportunityStage")["opportunity"]
    won = ok(await move(gql, deal, "won"), "moveOpportunityStage")["opportunity"]
    assert (won["stage"], won["probability"]) == ("won", 100)


async def test_a_stage_with_deals_leaves_only_with_a_stage_for_them(gql):
    # given a deal in a stage
    pipeline = await new_pipeline(gql)
    await define_stage(gql, pipeline, key="proposal", label="方案", order=2, defaultProbability=40)
    deal = await deal_in(gql, pipeline, stage="proposal")
    # when the admin removes it without a stage for its deals, or turns it into the lost stage
    plain = {"pipelineId": pipeline["id"], "key": "proposal"}
    refused = await gql(REMOVE_STAGE, {"input": plain}, as_=ADMIN)
    turned = await gql(DEFINE_STAGE, {"input": {**plain, "label": "方案", "order": 2, "defaultProbability": 0,
                                                "isLost": True}}, as_=ADMIN)
    # then both are refused and the deal is untouched
    assert user_errors(refused, "removePipelineStage") == [(["moveToStage"], "STAGE_IN_USE")]
    assert ("isLost" in {f[0] for f, _ in user_errors(turned, "definePipelineStage")})
    assert (await gql(OPPORTUNITY, {"id": deal["id"]}))["data"]["opportunity"]["stage"] == "proposal"
    # when they name a stage for its deals
    removed = ok(await gql(REMOVE_STAGE, {"input": {**plain, "moveToStage": "qualify"}}, as_=ADMIN),
                 "removePipelineStage")
    # then the stage is gone and the deal is in the other one
    assert [s["key"] for s in removed["pipeline"]["stages"]] == ["qualify", "won", "lost"]
    assert (await gql(OPPORTUNITY, {"id": deal["id"]}))["data"]["opportunity"]["stage"] == "qualify"


# --- custom fields -----------------------------------------------------------------------------------


async def test_a_custom_field_hidden_from_a_role_is_forbidden_to_it_in_queries_writes_and_the_feed(gql, app):
    # given a custom field only sales managers (and admins) may see, filled on a rep's deal by the manager
    key = unique("margin").replace(" ", "_")
    defined = ok(await gql(DEFINE_FIELD, {"input": {
        "objectType": "OPPORTUNITY", "key": key, "label": "内部毛利率", "type": "NUMBER",
        "visibleToRoles": ["sales_manager"]}}, as_=ADMIN), "defineCustomField")["customField"]
    assert defined["visibleToRoles"] == ["admin", "sales_manager"]
    deal = await new_opportunity(gql)
    start = await feed_end(gql, app, as_=REP1)
    manager_start = await feed_end(gql, app, as_=MANAGER)
    ok(await gql(UPDATE, {"input": {"id": deal["id"], "version": deal["version"], "customFields": {key: 32.5}}},
                 as_=MANAGER), "updateOpportunity")
    await positioned(app)
    # when the rep reads the deal
    read = await gql(OPPORTUNITY, {"id": deal["id"]}, as_=REP1)
    # then the field is left out and reported FORBIDDEN_FIELD, while the manager sees it
    assert key not in read["data"]["opportunity"]["customFields"]
    assert {"code": "FORBIDDEN_FIELD", "field": f"Opportunity.customFields.{key}"} in [
        e["extensions"] for e in read["errors"]]
    managed = await gql(OPPORTUNITY, {"id": deal["id"]}, as_=MANAGER)
    assert managed["data"]["opportunity"]["customFields"][key] == 32.5 and "errors" not in managed
    # and the rep's list of definitions leaves it out, the admin's shows who may see it
    listed = (await gql(DEFINITIONS, {"t": "OPPORTUNITY"}, as_=REP1))["data"]["customFieldDefinitions"]
    assert key not in [d["key"] for d in listed]
    listed = (await gql(DEFINITIONS, {"t": "OPPORTUNITY"}, as_=ADMIN))["data"]["customFieldDefinitions"]
    assert {"key": key, "label": "内部毛利率", "type": "NUMBER", "visibleToRoles": ["admin", "sales_manager"]} in listed
    # and the rep may not write it
    version = managed["data"]["opportunity"]["version"]
    written = await gql(UPDATE, {"input": {"id": deal["id"], "version": version, "customFields": {key: 1}}})
    assert error_code(written) == "FORBIDDEN"
    # and the change feed carries the change to the manager, never to the rep
    def changes(events: list[dict[str, Any]]) -> list[Any]:
        return [e["payload"].get("changes") for e in events
                if e["recordId"] == deal["id"] and e["topic"] == "opportunity.updated"]

    rep_feed = (await gql(FEED, {"after": start}, as_=REP1))["data"]["changeEvents"]["events"]
    manager_feed = (await gql(FEED, {"after": manager_start}, as_=MANAGER))["data"]["changeEvents"]["events"]
    assert changes(manager_feed) == [{"custom_fields": [{}, {key: 32.5}]}]
    assert changes(rep_feed) == [{"custom_fields": [{}, {}]}]
    assert all(key not in str(c) for c in changes(rep_feed))
    # when the admin makes it visible to everyone again, then the rep reads it
    ok(await gql(DEFINE_FIELD, {"input": {"objectType": "OPPORTUNITY", "key": key, "label": "毛利率",
                                          "type": "NUMBER"}}, as_=ADMIN), "defineCustomField")
    again = await gql(OPPORTUNITY, {"id": deal["id"]}, as_=REP1)
    assert again["data"]["opportunity"]["customFields"][key] == 32.5 and "errors" not in again


async def test_select_fields_take_only_their_options(gql):
    # given a SELECT and a MULTISELECT custom field of customers with Chinese options
    region, lines = unique("region").replace(" ", "_"), unique("lines").replace(" ", "_")
    for key, kind, options in ((region, "SELECT", ["华东", "华北"]), (lines, "MULTISELECT", ["软件", "硬件", "服务"])):
        field = ok(await gql(DEFINE_FIELD, {"input": {"objectType": "CUSTOMER", "key": key, "label": "区域",
                                                      "type": kind, "options": options}}, as_=ADMIN),
                   "defineCustomField")["customField"]
        assert (field["type"], field["options"]) == (kind, options)
    # when customers are created with values in and out of the options
    good = await new_customer(gql, customFields={region: "华东", lines: ["软件", "服务"]})
    bad = await gql("""mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) {
        customer { id } userErrors { field code } } }""",
                    {"input": {"name": unique("客户"), "customFields": {region: "华南", lines: ["软件", "软件"]}}})
    # then the good one is kept and each bad value refused
    assert good["id"]
    assert sorted(user_errors(bad, "createCustomer")) == [
        (["customFields", lines], "INVALID_CUSTOM_FIELD"), (["customFields", region], "INVALID_CUSTOM_FIELD")]
    # and definitions are checked: options only on select fields, a type stays what it was
    cases = [
        ({"key": unique("x").replace(" ", "_"), "type": "SELECT", "options": []}, "INVALID_FIELD_OPTIONS"),
        ({"key": unique("x").replace(" ", "_"), "type": "SELECT", "options": ["a", "a"]}, "INVALID_FIELD_OPTIONS"),
        ({"key": unique("x").replace(" ", "_"), "type": "TEXT", "options": ["a"]}, "INVALID_FIELD_OPTIONS"),
        ({"key": region, "type": "TEXT"}, "CUSTOM_FIELD_TYPE_LOCKED"),
        ({"key": "9lives", "type": "TEXT"}, "INVALID_CONFIG_KEY"),
        ({"key": unique("x").replace(" ", "_"), "type": "TEXT", "visibleToRoles": ["emperor"]}, "UNKNOWN_ROLE"),
    ]
    for change, code in cases:
        result = await gql(DEFINE_FIELD, {"input": {"objectType": "CUSTOMER", "label": "字段", **change}}, as_=ADMIN)
        assert [c for _, c in user_errors(result, "defineCustomField")] == [code], change
    # and only admins define fields
    refused = await gql(DEFINE_FIELD, {"input": {"objectType": "CUSTOMER", "key": "mine", "label": "我的",
                                                 "type": "TEXT"}}, as_=MANAGER)
    assert error_code(refused) == "FORBIDDEN"


# --- lost reasons and competitors ------------------------------------------------------------------


async def test_deals_refer_to_lost_reasons_and_competitors(gql):
    # given a lost reason and two competitors of the admin's (Chinese names)
    reason = ok(await gql(DEFINE_LOST_REASON, {"input": {"label": unique("价格太高")}}, as_=ADMIN),
                "defineLostReason")["lostReason"]
    cloud = ok(await gql(CREATE_COMPETITOR, {"input": {"name": unique("华为云"), "website": "https://huaweicloud.com"}},
                         as_=ADMIN), "createCompetitor")["competitor"]
    other = ok(await gql(CREATE_COMPETITOR, {"input": {"name": unique("浪潮软件")}}, as_=ADMIN),
               "createCompetitor")["competitor"]
    listed = (await gql("{ lostReasons { label } competitors { name } }"))["data"]
    assert reason["label"] in [r["label"] for r in listed["lostReasons"]]
    assert {cloud["name"], other["name"]} <= {c["name"] for c in listed["competitors"]}
    # when a rep names the competitors of a deal and loses it for the reason
    deal = await new_opportunity(gql)
    deal = ok(await gql(UPDATE, {"input": {"id": deal["id"], "version": deal["version"],
                                           "competitorIds": [cloud["id"], other["id"]]}}), "updateOpportunity")
    deal = deal["opportunity"]
    assert [c["name"] for c in deal["competitors"]] == [cloud["name"], other["name"]]
    lost = ok(await move(gql, deal, "lost", lostReasonId=reason["id"]), "moveOpportunityStage")["opportunity"]
    # then the deal refers to them, and its text reason is the reason's label
    assert lost["lostReasonOption"] == {"key": reason["key"], "label": reason["label"]}
    assert lost["lostReason"] == reason["label"]
    read = (await gql(OPPORTUNITY, {"id": deal["id"]}))["data"]["opportunity"]
    assert read["competitors"] == [{"name": cloud["name"], "website": "https://huaweicloud.com"},
                                   {"name": other["name"], "website": None}]
    # and a free-text reason still works as before
    other_deal = await new_opportunity(gql)
    free = ok(await move(gql, other_deal, "lost", lostReason="客户预算取消"), "moveOpportunityStage")["opportunity"]
    assert (free["lostReason"], free["lostReasonOption"]) == ("客户预算取消", None)


async def test_references_to_another_orgs_configuration_and_bad_input_are_refused(gql):
    # given Acme's competitor and lost reason
    acme_competitor = ok(await gql(CREATE_COMPETITOR, {"input": {"name": unique("Acme 对手")}}, as_=ACME_ADMIN),
                         "createCompetitor")["competitor"]
    acme_reason = ok(await gql(DEFINE_LOST_REASON, {"input": {"label": unique("Acme 原因")}}, as_=ACME_ADMIN),
                     "defineLostReason")["lostReason"]
    deal = await new_opportunity(gql)
    # when a demo rep names them
    named = await gql(UPDATE, {"input": {"id": deal["id"], "version": deal["version"],
                                         "competitorIds": [acme_competitor["id"]]}})
    lost = await move(gql, deal, "lost", lostReasonId=acme_reason["id"])
    # then both are refused as unknown, and the deal is unchanged
    assert user_errors(named, "updateOpportunity") == [(["competitorIds", "0"], "UNKNOWN_COMPETITOR")]
    assert user_errors(lost, "moveOpportunityStage") == [(["lostReasonId"], "UNKNOWN_LOST_REASON")]
    read = (await gql(OPPORTUNITY, {"id": deal["id"]}))["data"]["opportunity"]
    assert (read["stage"], read["competitors"]) == ("initial_contact", [])
    # and a competitor's name is unique in any width or case, and only admins add them
    name = unique("ＡＢＣ软件")
    ok(await gql(CREATE_COMPETITOR, {"input": {"name": name}}, as_=ADMIN), "createCompetitor")
    twin = await gql(CREATE_COMPETITOR, {"input": {"name": name.replace("ＡＢＣ", "abc")}}, as_=ADMIN)
    assert user_errors(twin, "createCompetitor") == [(["name"], "COMPETITOR_EXISTS")]
    assert error_code(await gql(CREATE_COMPETITOR, {"input": {"name": "某公司"}}, as_=REP1)) == "FORBIDDEN"
    assert error_code(await gql(DEFINE_LOST_REASON, {"input": {"label": "太贵"}}, as_=MANAGER)) == "FORBIDDEN"
