"""Archiving: a record taken out of everyday lists and search, kept whole with its history.

A model that can be archived mixes in ``Archivable`` (one ``archived_at`` column). Its lists leave
archived rows out through ``listed``; single-record reads, ``node(id)``, timelines and the change feed
still find it. The rules are pure: they return the moment of the change or raise a field error; the
service that records the ``<type>.archived`` / ``<type>.restored`` event is the registry's
(``domain/registry/archive.py``), which knows every archivable type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column

from .errors import SharedErrorCode, ValidationFailed


class Archivable:
    """Mixin of a model whose rows can be archived and restored."""

    archived_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def archive(self, at: datetime) -> datetime:
        if self.archived_at is not None:
            raise ValidationFailed.one("id", SharedErrorCode.ALREADY_ARCHIVED, "This record is archived already.")
        self.archived_at = at
        return at

    def restore(self) -> datetime:
        """Back into lists; returns when it had been archived."""
        if self.archived_at is None:
            raise ValidationFailed.one("id", SharedErrorCode.NOT_ARCHIVED, "This record is not archived.")
        was, self.archived_at = self.archived_at, None
        return was


def listed(stmt: Any, model: Any, archived: bool | None) -> Any:
    """``stmt`` limited by a list's ``archived`` filter: False (the default of every list) leaves archived
    rows out, True keeps only them, None keeps both."""
    if archived is None:
        return stmt
    return stmt.where(model.archived_at.is_not(None) if archived else model.archived_at.is_(None))
