"""Outbox relay, broadcaster backend, channels and subscription streams."""
