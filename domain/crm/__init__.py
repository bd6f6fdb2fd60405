"""CRM: customers, contacts, leads, interactions. Registers how customers are read for the areas
below that refer to them by id (domain/shared/references.py)."""

from . import customer  # noqa: F401  (registers the customer reader)
