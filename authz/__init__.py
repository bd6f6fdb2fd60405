"""Casbin roles, row scopes and the field guard (built in the authorization issue)."""
