"""`tandem serve` refuses, in one line, to start where it would run unsafely: with the published
development JWT secret outside a try-out, or as several processes that cannot share live events (more
than one worker, or a second process on the same SQLite file, without Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tandem.cli import refusal
from tandem.settings import DEV_JWT_SECRET, Settings
from tests.factories.servers import free_port
from tests.factories.waiting import eventually_blocking

OWN_SECRET = "a-secret-of-this-deployment-0123456789abcdef"


def _settings(**changes: object) -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///unused.db", **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "refused"), [
    ({}, "published development secret"),
    ({"jwt_secret": DEV_JWT_SECRET}, "published development secret"),
    ({"demo": True}, None),
    ({"debug": True}, None),
    ({"jwt_secret": OWN_SECRET}, None),
    ({"jwt_algorithm": "RS256", "jwt_public_key": "a key"}, None),
])
def test_the_development_secret_is_refused_outside_a_try_out(changes, refused):
    # given settings as an operator left them; when `tandem serve` checks them
    said = refusal(_settings(**changes), workers=1)
    # then only the published secret outside --demo and debug is refused
    assert (said is None) if refused is None else (refused in said)


@pytest.mark.parametrize(("workers", "redis_url", "refused"), [
    (1, None, False), (2, None, True), (4, None, True), (2, "redis://127.0.0.1:6379/0", False),
])
def test_several_workers_need_redis(workers, redis_url, refused):
    said = refusal(_settings(jwt_secret=OWN_SECRET, redis_url=redis_url), workers=workers)
    assert (said is not None) == refused
    if refused:
        assert "TANDEM_REDIS_URL" in said and "\n" not in said


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["TANDEM_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
    env.update(extra)
    return env


def _serve(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tandem.cli", "serve", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_with_the_development_secret_exits_with_one_line(tmp_path):
    # when an operator serves without setting a secret (and without --demo)
    server = _serve(tmp_path, _env(tmp_path), "--port", str(free_port()))
    _, err = server.communicate(timeout=60)
    # then it does not start: one line says why and what to do, no traceback, no database created
    assert server.returncode != 0
    assert err.strip().count("\n") == 0, err
    assert "TANDEM_JWT_SECRET" in err and "openssl rand" in err
    assert not (tmp_path / "tandem.db").exists()


def test_serve_with_two_workers_and_no_redis_exits_with_one_line(tmp_path):
    server = _serve(tmp_path, _env(tmp_path, TANDEM_JWT_SECRET=OWN_SECRET), "--port", str(free_port()),
                    "--workers", "2")
    _, err = server.communicate(timeout=60)
    assert server.returncode != 0
    assert err.strip().count("\n") == 0, err
    assert "--workers 2 needs TANDEM_REDIS_URL" in err


def test_a_second_process_on_the_same_sqlite_file_without_redis_is_refused(tmp_path):
    # given one `tandem serve` on a SQLite file with the in-memory broker, answering
    env = _env(tmp_path, TANDEM_JWT_SECRET=OWN_SECRET)
    port = free_port()
    first = _serve(tmp_path, env, "--port", str(port))
    try:
        def healthy() -> bool:
            assert first.poll() is None, "the first tandem serve exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        eventually_blocking(healthy, within=60, what="the first tandem serve to answer /healthz")

        # when a second one starts on the same file
        second = _serve(tmp_path, env, "--port", str(free_port()))
        _, err = second.communicate(timeout=60)

        # then it exits with one line naming the file and the way out, and the first goes on serving
        assert second.returncode != 0
        assert err.strip().count("\n") == 0, err
        assert "already serves" in err and "TANDEM_REDIS_URL" in err and "tandem.db" in err
        assert healthy()
    finally:
        first.terminate()
        first.wait(timeout=30)
