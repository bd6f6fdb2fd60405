"""Strawberry types, inputs, enums and connections. The Schema itself is assembled in resolvers/,
which owns the root Query and Mutation types (schema/ may not import resolvers/)."""
