"""The built wheel installs only the ``tandem`` namespace, so it sits next to PyPI's ``schema`` package
without either breaking: a fresh virtualenv gets both, then ``tandem migrate``, demo data, a token and
a query against ``tandem serve`` work from a folder that is not the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.factories.servers import free_port
from tests.factories.waiting import eventually_blocking

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # built from a copy of what the wheel is made of (setuptools leaves build/ in the tree it builds)
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("tandem", "domain", "schema", "resolvers", "realtime", "authz", "migrations"):
        shutil.copytree(ROOT / folder, source / folder, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
         cwd=out, env=dict(os.environ))
    [built] = out.glob("tandem-*.whl")
    return built


def test_the_wheel_holds_only_the_tandem_namespace(wheel: Path):
    # when we list the wheel's top-level folders
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.startswith("tandem-")}
    # then everything is under tandem/, with the policy model and every migration inside it
    assert tops == {"tandem"}
    assert "tandem/schema/customer.py" in names and "tandem/domain/registry/records.py" in names
    assert "tandem/authz/model.conf" in names and "tandem/migrations/script.py.mako" in names
    assert any(name.startswith("tandem/migrations/versions/0001_") for name in names)
    # and GraphiQL's page with every file it loads (it reaches for nothing outside the server)
    assert "tandem/static/graphiql.html" in names
    assert {"tandem/static/graphiql/graphiql.min.js", "tandem/static/graphiql/react.production.min.js",
            "tandem/static/graphiql/graphql-ws.min.js", "tandem/static/graphiql/tandem-graphiql.js",
            "tandem/static/graphiql/VENDORED.md"} <= set(names)


def test_the_wheel_installs_next_to_pypi_schema_and_serves(wheel: Path, tmp_path: Path):
    # given a fresh virtualenv holding the wheel and PyPI's `schema`, used from an empty folder
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=dict(os.environ))
    python, tandem = str(venv / "bin" / "python"), str(venv / "bin" / "tandem")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "PYTHON", "VIRTUAL_ENV"))}
    env["TANDEM_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
    env["TANDEM_JWT_SECRET"] = "the-secret-of-this-deployment-0123456789abcdef"  # serve refuses the dev one
    _run([python, "-m", "pip", "install", "--quiet", str(wheel), "schema"], cwd=tmp_path, env=env)
    # then both import: PyPI's `schema` validates and Tandem's lives at tandem.schema
    both = _run([python, "-c", "import schema, tandem.schema.customer as c; "
                 "print(schema.Schema(int).validate(7), c.__name__)"], cwd=tmp_path, env=env)
    assert both.split() == ["7", "tandem.schema.customer"]
    # when the operator migrates, adds demo data and gets a token
    _run([tandem, "migrate"], cwd=tmp_path, env=env)
    _run([tandem, "seed-demo"], cwd=tmp_path, env=env)
    token = _run([tandem, "token", "--email", "admin@demo.test"], cwd=tmp_path, env=env).strip().splitlines()[-1]
    # and serves it
    port = free_port()
    server = subprocess.Popen([tandem, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answer() -> dict | None:
            assert server.poll() is None, "tandem serve exited"
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql", method="POST",
                data=json.dumps({"query": "{ me { email } customers(first: 1) { totalCount } }"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())
            except OSError:
                return None

        body = eventually_blocking(answer, within=60, what="tandem serve to answer a query")
        page = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"})
        with urllib.request.urlopen(page, timeout=5) as response:
            html = response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/graphql/assets/graphiql.min.js", timeout=5) as response:
            graphiql_size = len(response.read())
    finally:
        server.terminate()
        server.wait(timeout=30)
    # then the query is answered from the demo data
    assert body["data"]["me"] == {"email": "admin@demo.test"}
    assert body["data"]["customers"]["totalCount"] > 0
    # and GraphiQL's page and its scripts come from the installed package
    assert '<script src="graphql/assets/graphiql.min.js">' in html
    assert graphiql_size == (ROOT / "tandem" / "static" / "graphiql" / "graphiql.min.js").stat().st_size
