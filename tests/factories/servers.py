"""Server processes a test starts of its own (redis-server, uvicorn): a free port, and waiting until one
answers."""

from __future__ import annotations

import socket
import subprocess

import redis

from tests.factories.waiting import eventually_blocking


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_redis(port: int, process: subprocess.Popen[bytes], *, within: float = 10.0) -> None:
    """Until the redis-server on ``port`` answers PING; fails at once if the process exits."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)

    def answers() -> bool:
        assert process.poll() is None, "redis-server exited"
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        eventually_blocking(answers, within=within, what=f"redis-server on port {port} to answer PING")
    finally:
        client.close()
