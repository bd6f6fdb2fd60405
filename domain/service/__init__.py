"""The service desk: tickets customers raise, the department queues that work them, public replies and
internal notes, and hand-offs between departments."""

from . import queue, ticket  # noqa: F401 (register the areas' reactions)
