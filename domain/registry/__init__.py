"""The record-type registry: every record type the API exposes (``records``) and what every outward
event carries (``payloads``), declared once.

It sits above the areas (it names their models and visibility functions) and below every outer layer:
``node(id)``, the field guard, the event filter, the policy admin API, the visibility module and the
tenancy and leak tests read it. Deny by default: a payload key no declaration names is never
delivered; a field derived from a guarded one is readable only by whoever may read every source.
"""

from __future__ import annotations

from ..automation.conditions import Catalog
from ..automation.rule_engine import install as install_rule_catalog
from .payloads import (
    ID,
    ITEMS,
    RECORD_ID,
    REFERENCES,
    SHAPE_NODES,
    SHAPES,
    TOPICS,
    Changes,
    Governs,
    Key,
    Keyed,
    Nested,
    Paths,
    Topic,
    archive_topics,
    change_id_type,
    id_type,
    key_governs,
    path_governs,
    path_steps,
    payload_keys,
    payload_shape,
    shape_key,
)
from .records import (
    ARCHIVABLE_TYPES,
    GUARDED_TYPES,
    NODE_TYPES,
    ORG_WIDE_TYPES,
    OWNED_TYPES,
    RECORD_TYPES,
    TIMELINE_TYPES,
    RecordType,
    Visible,
    scope_type,
    sources,
)

TOPICS.update(archive_topics(sorted(ARCHIVABLE_TYPES)))


def governing_fields() -> set[str]:
    """Every ``Type.field`` a payload or derivation declaration names (each must be a field of the schema)."""
    out: set[str] = set()

    def add(key: Key) -> None:
        if isinstance(key, Nested):
            out.update(key.governs)
        elif isinstance(key, Keyed):
            out.add(key.governs)
        elif isinstance(key, tuple):
            out.update(key)

    for keys in SHAPES.values():
        for key in keys.values():
            add(key)
    for topic in TOPICS.values():
        for key in topic.keys.values():
            add(key)
    for record_type in RECORD_TYPES.values():
        for srcs in record_type.derived.values():
            out.update(srcs)
        out.update(f"{record_type.name}.{f}" for f in record_type.derived)
        if record_type.readable_with:
            out.add(record_type.readable_with)
    return out


# Workflow rules (domain/automation, below the registry) read record types and field paths from here.
install_rule_catalog(Catalog(
    models={name: t.model for name, t in RECORD_TYPES.items() if t.model is not None and name in SHAPES},
    steps=path_steps, governs=key_governs))

__all__ = [
    "ARCHIVABLE_TYPES",
    "GUARDED_TYPES", "ID", "ITEMS", "NODE_TYPES", "ORG_WIDE_TYPES", "OWNED_TYPES", "RECORD_ID", "RECORD_TYPES",
    "REFERENCES", "SHAPES", "SHAPE_NODES", "TIMELINE_TYPES", "TOPICS",
    "Changes", "Governs", "Key", "Keyed", "Nested", "Paths", "RecordType", "Topic", "Visible", "archive_topics",
    "change_id_type", "governing_fields", "id_type", "key_governs", "path_governs", "path_steps", "payload_keys",
    "payload_shape", "scope_type", "shape_key", "sources",
]
