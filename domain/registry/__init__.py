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
from ..automation.sla import install as install_sla_topics
from .payloads import (
    ID,
    ITEMS,
    OWN,
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
    record_topic,
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
    out = {name for name in out if not name.startswith(OWN)}  # a field of each event's own type
    for record_type in RECORD_TYPES.values():
        for srcs in record_type.derived.values():
            out.update(srcs)
        out.update(f"{record_type.name}.{f}" for f in record_type.derived)
        if record_type.readable_with:
            out.add(record_type.readable_with)
    return out


def topics_of(type_name: str) -> frozenset[str]:
    """The topics an event about a record of the type, or on its timeline, may have: its own (named after the type,
    ``task.created``, or of the type's shape); those of the shapes that name the type (a quote's or an
    interaction's ``opportunityId``) or, following a timeline, name no record with one (comments, meetings, action
    items: on any record's); and the shapeless ones not named after another type (``record.shared``)."""
    own_prefix = record_topic(type_name, "")
    type_prefixes = {record_topic(name, "") for name in RECORD_TYPES}

    def concerns(shape: str) -> bool:
        named = {REFERENCES[k] for k in SHAPES.get(shape, {}) if k in REFERENCES}
        record = RECORD_TYPES.get(shape)
        return type_name in named or bool(record and record.follows_timeline and not named & TIMELINE_TYPES)

    out = set()
    for topic, declared in TOPICS.items():
        prefix = topic.split(".", 1)[0] + "."
        if prefix == own_prefix or declared.shape == type_name or \
                (declared.shape is None and prefix not in type_prefixes) or \
                (declared.shape is not None and concerns(declared.shape)):
            out.add(topic)
    return frozenset(out)


# Workflow rules (domain/automation, below the registry) read record types and field paths from here.
install_rule_catalog(Catalog(
    models={name: t.model for name, t in RECORD_TYPES.items() if t.model is not None and name in SHAPES},
    steps=path_steps, governs=key_governs))
# SLA policies check their start, stop and pause topics against each record type's.
install_sla_topics(topics_of)

__all__ = [
    "ARCHIVABLE_TYPES",
    "GUARDED_TYPES", "ID", "ITEMS", "NODE_TYPES", "ORG_WIDE_TYPES", "OWNED_TYPES", "RECORD_ID", "RECORD_TYPES",
    "REFERENCES", "SHAPES", "SHAPE_NODES", "TIMELINE_TYPES", "TOPICS",
    "Changes", "Governs", "Key", "Keyed", "Nested", "Paths", "RecordType", "Topic", "Visible", "archive_topics",
    "change_id_type", "governing_fields", "id_type", "key_governs", "path_governs", "path_steps", "payload_keys",
    "payload_shape", "scope_type", "shape_key", "sources", "topics_of",
]
