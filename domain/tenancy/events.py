"""What happens in tenancy that other areas react to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrgCreated:
    """A new tenant exists (the pipeline area gives it the default pipeline, automation its built-in rules)."""

    org_id: int
