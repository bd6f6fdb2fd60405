from pathlib import Path

from tandem.graphql import build_schema
from tandem.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_is_up_to_date():
    # given the SDL clients generate code from
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    # when the schema is built from the code
    current = build_schema(Settings()).as_str() + "\n"
    # then they match: run `tandem export-schema` after changing the API
    assert committed == current, "schema.graphql is out of date: run `tandem export-schema`"
