"""The org's people and teams: a directory everyone in the org pages through, and the admin's acts on it
(invite a user, change their details, make a team)."""

from __future__ import annotations

import strawberry

from tandem.domain.shared.pagination import PageRequest
from tandem.domain.tenancy import handover
from tandem.domain.tenancy import org as teams
from tandem.domain.tenancy import user as service
from tandem.schema.node import decode_id
from tandem.schema.pagination import Connection, wants_total
from tandem.schema.policy import DeactivateUserPayload, TeamPayload, UserPayload
from tandem.schema.user import (
    CreateTeamInput,
    DeactivateUserInput,
    InviteUserInput,
    ReassignedRecords,
    Team,
    UpdateUserInput,
    User,
    UserFilter,
)

from .mutation import opt_id, run
from .policy import _user_payload
from .writes import writes


def _deactivated_payload(result=None, user_errors=None) -> DeactivateUserPayload:
    if result is None:
        return DeactivateUserPayload(user_errors=user_errors or [])
    user, handed = result
    totals: dict[str, int] = {}
    for h in handed:
        totals[h.record_type] = totals.get(h.record_type, 0) + h.count
    return DeactivateUserPayload(user=User.from_model(user), reassigned=[
        ReassignedRecords(record_type=t, count=n) for t, n in totals.items() if n])


def _team_payload(m=None, user_errors=None) -> TeamPayload:
    return TeamPayload(team=Team.from_model(m) if m else None, user_errors=user_errors or [])


@strawberry.type
class UserQuery:
    @strawberry.field(description="The people of your org, oldest first (what you may read of each is your "
                                  "role's field policy).")
    async def users(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                    last: int | None = None, before: str | None = None,
                    filter: UserFilter | None = None) -> Connection[User]:
        ctx = info.context
        flt = filter or UserFilter()
        ctx.authz.require_read("User", [n for n, used in (
            ("name", flt.search), ("email", flt.search), ("roles", flt.role), ("active", flt.active is not None),
            ("team", flt.team_id)) if used])
        domain_filter = service.UserFilter(search=flt.search, role=flt.role.strip() if flt.role else None,
                                           active=flt.active, team_id=opt_id("Team", flt.team_id))
        req = PageRequest(first=first, after=after, last=last, before=before)
        async with ctx.read() as session:
            page = await service.list_users(session, ctx.actor.org_id, domain_filter, req,
                                            with_total=wants_total(info))
        return Connection.from_page(page, User.from_model)

    @strawberry.field(description="Your org's teams, by name.")
    async def teams(self, info: strawberry.Info) -> list[Team]:
        ctx = info.context
        async with ctx.read() as session:
            return [Team.from_model(t) for t in await teams.org_teams(session, ctx.actor.org_id)]


@strawberry.type
class UserMutation:
    @writes("User", needs=[("Policy", "manage")], fields={"manager_id": "User.manager", "team_id": "User.team",
                                                          "external_id": "User.externalId"})
    @strawberry.mutation(description="Add a user to your org (admin only); the e-mail is their login.")
    async def invite_user(self, info: strawberry.Info, input: InviteUserInput) -> UserPayload:
        actor = info.context.actor
        data = service.InviteUser(email=input.email, name=input.name, roles=list(input.roles),
                                  manager_id=opt_id("User", input.manager_id), team_id=opt_id("Team", input.team_id),
                                  territory=input.territory, capacity=input.capacity, external_id=input.external_id)
        return await run(info, lambda s: service.invite_user(s, actor, data), _user_payload)

    @writes("User", needs=[("Policy", "manage")], fields={"user_id": None, "team_id": "User.team",
                                                          "external_id": "User.externalId"})
    @strawberry.mutation(description="Change a user's name, territory, capacity, team or external id (admin "
                                                     "only).")
    async def update_user(self, info: strawberry.Info, input: UpdateUserInput) -> UserPayload:
        actor = info.context.actor
        pk = decode_id("User", input.user_id)
        given = {name: getattr(input, name) for name in ("name", "territory", "capacity", "team_id", "external_id")
                 if getattr(input, name) is not strawberry.UNSET}
        changes = service.UserChanges(
            name=given.get("name"), territory=given.get("territory"), capacity=given.get("capacity"),
            team_id=opt_id("Team", given.get("team_id")), external_id=given.get("external_id"),
            clear=frozenset(name for name, value in given.items() if value is None))
        return await run(info, lambda s: service.update_user(s, actor, pk, changes), _user_payload)

    @writes("User", needs=[("Policy", "manage")], fields={"id": None, "transfer_ownership_to": None},
            also=["User.active"])
    @strawberry.mutation(description="Deactivate a user and hand their open work to a successor (admin only).")
    async def deactivate_user(self, info: strawberry.Info, input: DeactivateUserInput) -> DeactivateUserPayload:
        actor = info.context.actor
        pk = decode_id("User", input.id)
        successor = opt_id("User", input.transfer_ownership_to)
        return await run(info, lambda s: handover.deactivate_user(s, actor, pk, successor), _deactivated_payload)

    @writes(None, needs=[("Policy", "manage")])
    @strawberry.mutation(description="A new team in your org (admin only); team names are unique.")
    async def create_team(self, info: strawberry.Info, input: CreateTeamInput) -> TeamPayload:
        actor = info.context.actor
        return await run(info, lambda s: teams.new_team(s, actor, input.name), _team_payload)
