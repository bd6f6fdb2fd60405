"""Tandem: the shell that wires the domain, GraphQL schema, realtime hub and authorization."""
