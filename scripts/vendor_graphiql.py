"""Re-vendor the browser files GraphiQL needs into ``tandem/static/graphiql/``, so the page at ``GET /graphql``
loads nothing from the internet.

    python scripts/vendor_graphiql.py

Run it by hand when upgrading one of the pins below (then run tests/test_graphiql_browser.py). It needs npm,
only to download the published packages (``npm pack``: npm checks each tarball against the registry's
integrity hash; nothing is installed and no package script runs). The listed files are copied unchanged, and
``VENDORED.md`` is rewritten with each file's package, version, license and sha256, each tarball's integrity,
and each package's license text. The test checks the files against that note, so a hand-edited asset fails.

React stays on 18: React 19 publishes no UMD build. GraphiQL stays on 4: GraphiQL 5 publishes no UMD build
either (it is ESM only and needs a bundler).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "tandem" / "static" / "graphiql"


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    files: dict[str, str]
    """Path inside the package -> file name in ASSETS."""


PINS = [
    Pin("react", "18.3.1", {"umd/react.production.min.js": "react.production.min.js"}),
    Pin("react-dom", "18.3.1", {"umd/react-dom.production.min.js": "react-dom.production.min.js"}),
    Pin("graphiql", "4.1.2", {"graphiql.min.js": "graphiql.min.js", "graphiql.min.css": "graphiql.min.css"}),
    Pin("graphql-ws", "6.4.2", {"umd/graphql-ws.min.js": "graphql-ws.min.js"}),
]


def _pack(pin: Pin, into: Path) -> tuple[Path, str]:
    """The package's published tarball, downloaded by npm, and its integrity hash."""
    done = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(into), f"{pin.package}@{pin.version}"],
                          capture_output=True, text=True, check=True)
    [packed] = json.loads(done.stdout)
    if packed["version"] != pin.version:
        raise SystemExit(f"npm packed {pin.package}@{packed['version']}, not the pinned {pin.version}")
    return into / packed["filename"], packed["integrity"]


def _member(archive: tarfile.TarFile, path: str) -> bytes:
    extracted = archive.extractfile(f"package/{path}")
    if extracted is None:
        raise SystemExit(f"{path} is not a file in the package")
    return extracted.read()


def _license_text(archive: tarfile.TarFile) -> str:
    names = sorted(m.name for m in archive.getmembers()
                   if m.isfile() and m.name.count("/") == 1 and m.name.split("/")[1].upper().startswith("LICEN"))
    if not names:
        raise SystemExit("the package holds no license file")
    return _member(archive, names[0].split("/", 1)[1]).decode()


def vendor() -> None:
    rows, integrity, licenses = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for pin in PINS:
            tarball, checksum = _pack(pin, Path(tmp))
            with tarfile.open(tarball) as archive:
                meta = json.loads(_member(archive, "package.json"))
                for source, name in pin.files.items():
                    content = _member(archive, source)
                    (ASSETS / name).write_bytes(content)
                    rows.append(f"| `{name}` | {pin.package} | {pin.version} | {meta['license']} | "
                                f"`{hashlib.sha256(content).hexdigest()}` |")
                integrity.append(f"- {pin.package}@{pin.version}: `{checksum}`")
                licenses.append(f"### {pin.package} {pin.version}\n\n```text\n{_license_text(archive).strip()}\n```")
    note = "\n".join([
        "# Vendored GraphiQL assets",
        "",
        "Written by `scripts/vendor_graphiql.py` (run it to change a version; do not edit these files by hand).",
        "Each file is copied unchanged from the package npm published; `tandem-graphiql.js` and",
        "`tandem-graphiql.css` are Tandem's own.",
        "",
        "| file | package | version | license | sha256 |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "npm integrity of each package's tarball:",
        "",
        *integrity,
        "",
        "## Licenses",
        "",
        "\n\n".join(licenses),
        "",
    ])
    (ASSETS / "VENDORED.md").write_text(note)
    print(f"vendored {len(rows)} files into {ASSETS}", file=sys.stderr)


if __name__ == "__main__":
    vendor()
