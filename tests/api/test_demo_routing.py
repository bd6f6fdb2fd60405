"""The demo's routing, as someone trying it in GraphiQL would: in a demo org of its own (the sandbox, seeded as
`tandem seed-demo` seeds), a new lead from the web goes to the rep whose territory covers its region and shows why;
a lead from elsewhere is left to whoever took it in."""

from __future__ import annotations

from typing import Any

from tandem.demo import WEB_LEADS_RULE
from tests.factories.api.users import ADMIN, MARKETING

CREATE_LEAD = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) {
    lead { owner { name } assignment { rule method reason code assignee { name } } }
    userErrors { field code }
  }
}"""
RULES = "{ assignmentRules { name objectType method conditions members { name } } }"


async def _lead(sandbox: Any, **fields: Any) -> dict[str, Any]:
    answer = (await sandbox.post(CREATE_LEAD, {"input": {"name": "赵敏", "company": "杭州云帆科技有限公司", **fields}},
                                 as_=MARKETING)).json()
    assert "errors" not in answer and answer["data"]["createLead"]["userErrors"] == [], answer
    return answer["data"]["createLead"]["lead"]


async def test_a_new_web_lead_in_the_demo_is_routed_by_territory_with_its_reason(sandbox):
    # given the demo's routing rule
    rules = (await sandbox.post(RULES, as_=ADMIN)).json()["data"]["assignmentRules"]
    assert rules == [{"name": WEB_LEADS_RULE, "objectType": "LEAD", "method": "TERRITORY",
                      "conditions": [{"field": "source", "eq": "website"}],
                      "members": [{"name": "李娜 (Rep 1)"}, {"name": "Sam Rep 2"}]}]

    # when marketing takes in web leads from 华东 and from 华南
    east = await _lead(sandbox, source="WEBSITE", region="华东")
    south = await _lead(sandbox, source="WEBSITE", region="华南")

    # then each goes to the rep covering its region, and says why
    assert east == {"owner": {"name": "李娜 (Rep 1)"}, "assignment": {
        "rule": WEB_LEADS_RULE, "method": "TERRITORY", "code": None, "assignee": {"name": "李娜 (Rep 1)"},
        "reason": "territory 华东 matches region 华东: 李娜 (Rep 1)"}}
    assert south["owner"] == {"name": "Sam Rep 2"}
    assert south["assignment"]["reason"] == "territory 华南 matches region 华南: Sam Rep 2"
    # and a lead met at an event stays with whoever took it in, unrouted
    assert await _lead(sandbox, source="EVENT", region="华东") == {"owner": {"name": "Mia Marketing"},
                                                                  "assignment": None}
