"""Pipeline: stages, custom fields, opportunities. Reacts to ``OrgCreated`` (the default pipeline)."""

from . import stage  # noqa: F401  (registers the reactions)
