"""The business: SQLAlchemy models, services and rules. Knows nothing of GraphQL, HTTP, Redis or Casbin."""
