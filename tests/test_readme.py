from pathlib import Path

from tandem.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_setting():
    # given every TANDEM_* setting the service reads
    names = [f"TANDEM_{name.upper()}" for name in Settings.model_fields]
    # then each has a row in the README's settings table
    missing = [n for n in names if f"| `{n}` |" not in README]
    assert missing == []


def test_readme_starts_with_the_two_setup_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == ["pip install -e '.[test]'", "tandem serve --demo"]


def test_readme_names_every_user_error_code():
    # given every code a payload's userErrors may carry
    from tandem.schema.errors import UserErrorCode

    # then the README's error section names each
    errors = README.split("### Errors", 1)[1]
    assert [c.value for c in UserErrorCode if f"`{c.value}`" not in errors] == []
