"""Routing's tables: assignment rules, the assignments they make, users' leave, the org's fallback owner."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ...shared.base import Base, IdType, JsonType, pk


class RoutedType(StrEnum):
    LEAD = "lead"
    OPPORTUNITY = "opportunity"

    @property
    def record_type(self) -> str:
        return "Lead" if self is RoutedType.LEAD else "Opportunity"


class AssignmentMethod(StrEnum):
    ROUND_ROBIN = "round_robin"
    LOAD_BALANCED = "load_balanced"
    TERRITORY = "territory"


ROUTING_FIELDS: dict[RoutedType, tuple[str, ...]] = {
    RoutedType.LEAD: ("region", "industry", "source", "status", "company", "title"),
    RoutedType.OPPORTUNITY: ("region", "industry", "tier", "stage", "currency"),
}
"""The record fields conditions may name (an opportunity's region, industry and tier are its customer's)."""

TERRITORY_FIELDS = ("region", "industry", "tier")
"""The fields a territory is matched against, in this order."""

MAX_RULES = 200
MAX_MEMBERS = 200
MAX_CLAUSES = 20
MAX_RESPONSE_HOURS = 24 * 365


class AssignmentRule(Base):
    __tablename__ = "assignment_rule"
    __table_args__ = (Index("ix_assignment_rule_org_position", "org_id", "position"),)

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    object_type: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    method: Mapped[str] = mapped_column(String(20))
    member_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("team.id", ondelete="SET NULL"), nullable=True)
    respect_capacity: Mapped[bool] = mapped_column(Boolean, default=True)
    skip_unavailable: Mapped[bool] = mapped_column(Boolean, default=True)
    response_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    turn: Mapped[int] = mapped_column(Integer, default=0)
    """How many turns round robin (and territory, among matching members) has handed out."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Assignment(Base):
    """One routing of a record: who got it, under which rule, and why. The newest is the record's own."""

    __tablename__ = "record_assignment"
    __table_args__ = (
        Index("ix_record_assignment_record", "org_id", "record_type", "record_id", "id"),
        Index("ix_record_assignment_response_due", "response_due_at",
              postgresql_where=text("settled_at IS NULL AND response_due_at IS NOT NULL"),
              sqlite_where=text("settled_at IS NULL AND response_due_at IS NOT NULL")),
    )

    id: Mapped[int] = pk()
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(IdType)
    rule_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("assignment_rule.id", ondelete="SET NULL"), nullable=True)
    rule_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The rule's name when it routed (kept when the rule is renamed or deleted)."""
    method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reason: Mapped[str] = mapped_column(String(1000))
    code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """``NO_ELIGIBLE_ASSIGNEE`` when nobody the rules name could take it (a fallback owner or the creator did)."""
    assignee_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"))
    previous_owner_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    assigned_at: Mapped[datetime]
    response_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When the response check was done with (touched in time, or handed on)."""


class UserAvailability(Base):
    """A user's leave: unavailable from ``away_from`` until ``away_until`` (one period per user)."""

    __tablename__ = "user_availability"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), index=True)
    away_from: Mapped[datetime]
    away_until: Mapped[datetime]
    updated_at: Mapped[datetime]


class AssignmentFallback(Base):
    """Who takes a record no rule could route, per org."""

    __tablename__ = "assignment_fallback"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("app_user.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime]
