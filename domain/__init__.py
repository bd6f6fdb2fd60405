"""The business: SQLAlchemy models, services and rules. Knows nothing of GraphQL, HTTP, Redis or Casbin.

Areas, lowest first (an area imports only the ones below it; import-linter's "domain areas" contract
holds it): shared < tenancy < collaboration < pipeline < crm < sales < contracts < delivery < billing.
An area causes effects in another only through domain events (shared/bus.py). Importing any part of
``domain`` imports every area below, so every reaction is registered before a service runs.
"""

from . import automation, billing, collaboration, contracts, crm, delivery, pipeline, sales, service, tenancy  # noqa: F401
