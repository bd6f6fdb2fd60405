"""Builders that go through the GraphQL API as the seeded demo users, the way a front end would."""
