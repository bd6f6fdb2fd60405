"""Reading GraphQL answers: the payload of a mutation that must have succeeded, the code of the one error,
the user errors of a mutation."""

from __future__ import annotations

from typing import Any


def ok(result: dict[str, Any], mutation: str) -> dict[str, Any]:
    """The payload of a mutation that must have succeeded."""
    assert "errors" not in result, result
    payload = result["data"][mutation]
    assert payload["userErrors"] == [], payload
    return payload


def error_code(result: dict[str, Any]) -> str:
    """The code of the one GraphQL error of a response."""
    [error] = result["errors"]
    return error["extensions"]["code"]


def user_errors(result: dict[str, Any], mutation: str) -> list[tuple[list[str], str]]:
    """(field, code) of each user error of a mutation, which must not have failed as a whole."""
    assert "errors" not in result, result
    return [(e["field"], e["code"]) for e in result["data"][mutation]["userErrors"]]
