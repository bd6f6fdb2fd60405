"""The org's people: a directory everyone pages through, and the admin's acts on it — invite a user (who
can then be given work and sign in), change their details, make a team. Everyone else is refused."""

from __future__ import annotations

import uuid

import pytest

from tandem.auth import mint_token
from tandem.domain.tenancy.user import user_by_email

USERS = ("query ($f: UserFilter, $n: Int) { users(first: $n, filter: $f) { totalCount "
         "edges { node { id email name roles territory capacity active team { name } manager { name } } } "
         "pageInfo { hasNextPage endCursor } } }")
PAGED = USERS.replace("first: $n", "first: $n, after: $a").replace("$n: Int)", "$n: Int, $a: String)")
INVITE = ("mutation ($i: InviteUserInput!) { inviteUser(input: $i) { user { id email name roles capacity "
          "team { name } manager { email } } userErrors { field code message } } }")
UPDATE = ("mutation ($i: UpdateUserInput!) { updateUser(input: $i) { user { id name territory capacity "
          "team { name } } userErrors { field code } } }")
TEAM = "mutation ($i: CreateTeamInput!) { createTeam(input: $i) { team { id name } userErrors { field code } } }"


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def test_the_directory_pages_through_the_org_and_filters(gql):
    # when a rep pages through the directory, two at a time
    seen, after = [], None
    while True:
        answer = await gql(PAGED, {"n": 2, "a": after}, as_="rep1@demo.test")
        page = answer["data"]["users"]
        seen += [edge["node"]["email"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then they see their own org's people once each, no one of another org
    assert len(seen) == len(set(seen)) == page["totalCount"]
    assert "admin@demo.test" in seen and "rep1@demo.test" in seen
    assert not any(email.endswith("@acme.test") for email in seen)
    # and the filters narrow it: by role, by a part of the name or e-mail in any case
    reps = await gql(USERS, {"f": {"role": "sales_rep"}, "n": 50}, as_="rep1@demo.test")
    assert {e["node"]["email"] for e in reps["data"]["users"]["edges"]} >= {"rep1@demo.test", "rep2@demo.test"}
    assert all("sales_rep" in e["node"]["roles"] for e in reps["data"]["users"]["edges"])
    found = await gql(USERS, {"f": {"search": "MANAGER@"}, "n": 50}, as_="rep1@demo.test")
    assert [e["node"]["email"] for e in found["data"]["users"]["edges"]] == ["manager@demo.test"]
    bad = await gql(USERS, {"f": {"role": "emperor"}, "n": 5}, as_="rep1@demo.test")
    assert bad["data"] is None or bad["data"]["users"] is None
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_invited_user_can_sign_in_and_their_details_change(gql, settings, db, client):
    # given a team of the admin's making
    team_name = _unique("华东交付组")
    made = await gql(TEAM, {"i": {"name": team_name}}, as_="admin@demo.test")
    assert made["data"]["createTeam"]["userErrors"] == []
    team_id = made["data"]["createTeam"]["team"]["id"]
    manager = (await gql(USERS, {"f": {"search": "manager@demo"}, "n": 1}, as_="admin@demo.test")
               )["data"]["users"]["edges"][0]["node"]["id"]

    # when the admin invites a rep into it, under the manager (the address in any case, padded)
    email = f"{_unique('new.rep.')}@Demo.test"
    invited = await gql(INVITE, {"i": {"email": f"  {email} ", "name": "王小明", "roles": ["sales_rep"],
                                       "teamId": team_id, "managerId": manager, "capacity": 6}},
                        as_="admin@demo.test")

    # then the user exists as asked, their address folded to lower case
    payload = invited["data"]["inviteUser"]
    assert payload["userErrors"] == []
    user = payload["user"]
    assert (user["email"], user["name"], user["roles"], user["capacity"]) == (email.lower(), "王小明", ["sales_rep"], 6)
    assert user["team"] == {"name": team_name} and user["manager"] == {"email": "manager@demo.test"}
    # and they can sign in: a token for them is answered as them, with the role given
    async with db.read() as session:
        model = await user_by_email(session, email.lower())
    token = mint_token(settings, model)
    me = await client.post("/graphql", headers={"authorization": f"Bearer {token}"},
                           json={"query": "{ me { email roles team { name } } }"})
    assert me.json()["data"]["me"] == {"email": email.lower(), "roles": ["sales_rep"], "team": {"name": team_name}}

    # and the admin changes their details: name and capacity set, territory set then cleared, team cleared
    changed = await gql(UPDATE, {"i": {"userId": user["id"], "name": "王晓明", "capacity": 8, "territory": "华东"}},
                        as_="admin@demo.test")
    assert changed["data"]["updateUser"]["user"] | {"id": None} == {
        "id": None, "name": "王晓明", "territory": "华东", "capacity": 8, "team": {"name": team_name}}
    cleared = await gql(UPDATE, {"i": {"userId": user["id"], "territory": None, "teamId": None}},
                        as_="admin@demo.test")
    assert cleared["data"]["updateUser"]["user"]["territory"] is None
    assert cleared["data"]["updateUser"]["user"]["team"] is None
    assert cleared["data"]["updateUser"]["user"]["name"] == "王晓明"


@pytest.mark.parametrize(("given", "errors"), [
    ({"email": "not-an-address", "name": "甲", "roles": ["sales_rep"]}, {("email", "INVALID_EMAIL")}),
    ({"email": "admin@demo.test", "name": "甲", "roles": ["sales_rep"]}, {("email", "DUPLICATE")}),
    ({"email": "ADMIN@acme.test", "name": "甲", "roles": ["sales_rep"]}, {("email", "DUPLICATE")}),
    ({"email": "x@demo.test", "name": "  ", "roles": []}, {("name", "REQUIRED"), ("roles", "REQUIRED")}),
    ({"email": "x@demo.test", "name": "甲", "roles": ["emperor"], "capacity": -1},
     {("roles", "INVALID"), ("capacity", "INVALID")}),
    ({"email": "x@demo.test", "name": "甲" * 201, "roles": ["finance"]}, {("name", "TOO_LONG")}),
])
async def test_bad_invitations_are_named_and_create_no_one(gql, given, errors):
    before = (await gql(USERS, {"n": 1}, as_="admin@demo.test"))["data"]["users"]["totalCount"]
    answer = await gql(INVITE, {"i": given}, as_="admin@demo.test")
    payload = answer["data"]["inviteUser"]
    assert payload["user"] is None
    assert {(e["field"][-1], e["code"]) for e in payload["userErrors"]} == errors
    assert (await gql(USERS, {"n": 1}, as_="admin@demo.test"))["data"]["users"]["totalCount"] == before


async def test_a_team_name_is_unique_in_the_org(gql):
    name = _unique("团队")
    assert (await gql(TEAM, {"i": {"name": name}}, as_="admin@demo.test"))["data"]["createTeam"]["userErrors"] == []
    again = await gql(TEAM, {"i": {"name": f" {name} "}}, as_="admin@demo.test")
    assert again["data"]["createTeam"]["userErrors"] == [{"field": ["name"], "code": "DUPLICATE"}]
    empty = await gql(TEAM, {"i": {"name": ""}}, as_="admin@demo.test")
    assert empty["data"]["createTeam"]["userErrors"] == [{"field": ["name"], "code": "REQUIRED"}]


@pytest.mark.parametrize("who", ["rep1@demo.test", "manager@demo.test", "finance@demo.test"])
async def test_only_an_admin_invites_updates_or_makes_teams(gql, users, who):
    from tandem.schema.node import to_global_id

    before = (await gql(USERS, {"n": 1}, as_="admin@demo.test"))["data"]["users"]["totalCount"]
    for query, variables in (
            (INVITE, {"i": {"email": f"{_unique('x')}@demo.test", "name": "乙", "roles": ["admin"]}}),
            (UPDATE, {"i": {"userId": to_global_id("User", users[who].id), "name": "改名"}}),
            (TEAM, {"i": {"name": _unique("t")}})):
        answer = await gql(query, variables, as_=who)
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN", answer
    assert (await gql(USERS, {"n": 1}, as_="admin@demo.test"))["data"]["users"]["totalCount"] == before


async def test_another_orgs_user_team_or_manager_is_not_found(gql, users):
    from tandem.schema.node import to_global_id

    acme_rep = to_global_id("User", users["rep@acme.test"].id)
    answer = await gql(UPDATE, {"i": {"userId": acme_rep, "name": "越权"}}, as_="admin@demo.test")
    assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    invite = await gql(INVITE, {"i": {"email": f"{_unique('y')}@demo.test", "name": "丙", "roles": ["finance"],
                                      "managerId": acme_rep}}, as_="admin@demo.test")
    assert invite["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_the_directory_search_folds_case_and_full_width(gql):
    # a part of an e-mail typed in full-width capitals finds the same person
    found = await gql(USERS, {"f": {"search": "ＭＡＮＡＧＥＲ＠"}, "n": 50}, as_="rep1@demo.test")
    assert [e["node"]["email"] for e in found["data"]["users"]["edges"]] == ["manager@demo.test"]
    # a LIKE wildcard is taken literally
    assert (await gql(USERS, {"f": {"search": "%"}, "n": 50}, as_="rep1@demo.test"))["data"]["users"]["edges"] == []
