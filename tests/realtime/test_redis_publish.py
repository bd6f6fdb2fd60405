"""The Redis backend publishes a relay batch in one round trip (one script call), and where Redis
refuses scripts it pipelines instead: either way every message reaches its channel, in order.
Each test runs a redis-server of its own."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from broadcaster import Broadcast

from tandem.realtime.redis_backend import RedisPubSubBackend
from tests.factories.servers import free_port, wait_for_redis

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")

DEADLINE = 10.0


@pytest.fixture(params=[True, False], ids=["scripts allowed", "scripts refused"])
def redis_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    refuse = [] if request.param else ["--rename-command", "EVAL", "", "--rename-command", "EVALSHA", ""]
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), *refuse],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_redis(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_batch_published_at_once_reaches_each_channel_in_order(redis_url):
    # given subscribers on two channels
    backend = RedisPubSubBackend(redis_url)
    async with Broadcast(backend=backend) as broadcast:
        async with broadcast.subscribe("org:1:feed") as feed, broadcast.subscribe("org:1:record:Deal:7") as record:
            # when a batch goes out, twice (the second time the script is already loaded)
            batch = [("org:1:feed", f"event {n} 事件") for n in range(300)]
            batch[100:100] = [("org:1:record:Deal:7", "on the timeline ✅")]
            await backend.publish_many(batch)
            await backend.publish_many([("org:1:feed", "last")])

            # then
            async with asyncio.timeout(DEADLINE):
                on_feed = [(await feed.get()).message for _ in range(301)]
                on_record = [(await record.get()).message]
    assert on_feed == [f"event {n} 事件" for n in range(300)] + ["last"]
    assert on_record == ["on the timeline ✅"]
