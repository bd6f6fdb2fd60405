"""The Node interface and opaque global ids ("Customer:42", base64)."""

from __future__ import annotations

import base64
import binascii

import strawberry

from tandem.domain.shared.errors import NotFound


@strawberry.interface(description="An object with a global id; fetch any of them with `node(id)`.")
class Node:
    id: strawberry.ID


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("="))


def from_global_id(gid: str) -> tuple[str, int]:
    """(type name, primary key) of a global id; NotFound for anything malformed."""
    try:
        raw = base64.urlsafe_b64decode((gid + "=" * (-len(gid) % 4)).encode()).decode()
        type_name, _, pk = raw.partition(":")
        if not type_name or not pk.isdigit() or len(pk) > 18:
            raise ValueError
        return type_name, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise NotFound("Node", gid) from exc


def decode_id(expected: str, gid: str) -> int:
    """Primary key of a global id of type ``expected``; NotFound for another type or garbage."""
    type_name, pk = from_global_id(gid)
    if type_name != expected:
        raise NotFound(expected, gid)
    return pk
