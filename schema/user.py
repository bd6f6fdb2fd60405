"""Users and teams."""

from __future__ import annotations

from typing import Annotated

import strawberry

from tandem.domain.tenancy.org import Org as OrgModel
from tandem.domain.tenancy.org import Team as TeamModel
from tandem.domain.tenancy.user import User as UserModel

from .node import Node, to_global_id
from .scalars import Decimal, price


@strawberry.type
class Org(Node):
    name: str
    default_currency: str

    @classmethod
    def from_model(cls, m: OrgModel) -> Org:
        return cls(id=to_global_id("Org", m.id), name=m.name, default_currency=m.default_currency)


@strawberry.type
class Team(Node):
    name: str

    @classmethod
    def from_model(cls, m: TeamModel) -> Team:
        return cls(id=to_global_id("Team", m.id), name=m.name)


@strawberry.type
class User(Node):
    email: str | None
    name: str | None
    roles: list[str] | None
    territory: str | None
    capacity: int | None
    active: bool | None
    external_id: str | None = strawberry.field(description="The user's id at the identity provider (the claim "
                                                           "TANDEM_JWT_USER_CLAIM names).")
    cost_rate: Decimal | None = strawberry.field(description="Labor cost per hour (finance only).")
    _manager_id: strawberry.Private[int | None]
    _team_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: UserModel) -> User:
        return cls(id=to_global_id("User", m.id), email=m.email, name=m.name, roles=list(m.roles),
                   territory=m.territory, capacity=m.capacity, active=m.active, external_id=m.external_id,
                   cost_rate=price(m.cost_rate) if m.cost_rate is not None else None, _manager_id=m.manager_id,
                   _team_id=m.team_id)

    @strawberry.field
    async def manager(self, info: strawberry.Info) -> Annotated[User, strawberry.lazy(".user")] | None:
        if self._manager_id is None:
            return None
        m = await info.context.loaders.user.load(self._manager_id)
        return User.from_model(m) if m else None

    @strawberry.field
    async def team(self, info: strawberry.Info) -> Team | None:
        if self._team_id is None:
            return None
        m = await info.context.loaders.team.load(self._team_id)
        return Team.from_model(m) if m else None


@strawberry.input(description="Who to list: all filters together; none lists everyone in the org.")
class UserFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name or e-mail, any case.")
    role: str | None = strawberry.field(default=None, description="Holds this role (admin, sales_rep, ...).")
    active: bool | None = None
    team_id: strawberry.ID | None = None


@strawberry.input(description="A new user of your org (admin only): they sign in with this e-mail.")
class InviteUserInput:
    email: str
    name: str
    roles: list[str]
    manager_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    territory: str | None = None
    capacity: int | None = strawberry.field(default=None, description="Concurrent tasks (default 10).")
    external_id: str | None = strawberry.field(default=None, description="Their id at the identity provider: a "
                                               "token carrying it signs in as them (unique in the org).")


@strawberry.input(description="Change a user's name, territory, capacity, team or external id (admin only); "
                              "null clears territory, team and external id, an absent field stays.")
class UpdateUserInput:
    user_id: strawberry.ID
    name: str | None = strawberry.UNSET
    territory: str | None = strawberry.UNSET
    capacity: int | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    external_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Their id at the identity provider: a token carrying it signs in as them (unique in the org).")


@strawberry.input
class CreateTeamInput:
    name: str


@strawberry.input(description="Deactivate a user (admin only): they can no longer sign in, their open websockets "
                              "close at once, and their open records (leads, customers, opportunities, quotes, "
                              "contracts, invoices, projects, tasks, action items) and direct reports move to "
                              "transferOwnershipTo, which is required while they own any.")
class DeactivateUserInput:
    id: strawberry.ID
    transfer_ownership_to: strawberry.ID | None = None


@strawberry.type(description="How many open records of one type moved to the successor.")
class ReassignedRecords:
    record_type: str
    count: int


async def load_user(info: strawberry.Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    m = await info.context.loaders.user.load(user_id)
    return User.from_model(m) if m else None
