"""realtime/batches.py: lookups asked at once share one load, and no answer is older than its question."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from tandem.realtime.batches import Batches


async def settle() -> None:
    """Let the tasks started so far run until they wait."""
    await asyncio.sleep(0.01)


class Table:
    """A value per key that a test changes between loads; each load notes the keys it got."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.loads: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def load(self, keys: Sequence[Any]) -> dict[str, int]:
        """What the table holds when the load starts (a query's snapshot), answered once the gate opens."""
        self.loads.append(sorted(keys))
        found = {k: self.values[k] for k in keys if k in self.values}
        await self.gate.wait()
        return found


async def test_keys_asked_together_share_one_load():
    # given
    table, batches = Table(), Batches()
    table.values = {"a": 1, "b": 2}

    # when
    answers = await asyncio.gather(*(batches.get("g", key, table.load) for key in ["a", "b", "a", "c"]))

    # then
    assert answers == [1, 2, 1, None]
    assert table.loads == [["a", "b", "c"]]


async def test_a_key_asked_while_a_load_runs_waits_for_the_next_load_and_sees_its_answer():
    # given a load under way that read the value 1
    table, batches = Table(), Batches()
    table.values = {"a": 1}
    table.gate.clear()
    first = asyncio.create_task(batches.get("g", "a", table.load))
    await settle()
    assert table.loads == [["a"]]

    # when the value changes and the same key is asked again before that load ends
    table.values = {"a": 2}
    second = asyncio.create_task(batches.get("g", "a", table.load))
    await settle()
    table.gate.set()

    # then the second answer comes from a load that started after it was asked
    assert (await first, await second) == (1, 2)
    assert table.loads == [["a"], ["a"]]


async def test_groups_never_share_a_load():
    # given
    table, batches = Table(), Batches()
    table.values = {"a": 1}

    # when
    await asyncio.gather(batches.get("g1", "a", table.load), batches.get("g2", "a", table.load))

    # then
    assert table.loads == [["a"], ["a"]]


async def test_an_asker_that_goes_away_cancels_no_one_elses_answer():
    # given two askers of one load
    table, batches = Table(), Batches()
    table.values = {"a": 1}
    table.gate.clear()
    leaving = asyncio.create_task(batches.get("g", "a", table.load))
    staying = asyncio.create_task(batches.get("g", "a", table.load))
    await settle()

    # when one is cancelled
    leaving.cancel()
    table.gate.set()

    # then
    assert await staying == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_failed_load_fails_its_askers_and_the_next_load_runs_afresh():
    # given
    batches = Batches()

    async def failing(_keys: Sequence[Any]) -> dict[str, int]:
        raise RuntimeError("database down")

    async def working(keys: Sequence[Any]) -> dict[str, int]:
        return dict.fromkeys(keys, 7)

    # when
    with pytest.raises(RuntimeError):
        await batches.get("g", "a", failing)

    # then
    assert await batches.get("g", "a", working) == 7


async def test_a_batch_holds_at_most_max_keys_and_the_rest_go_next():
    # given
    table, batches = Table(), Batches(max_keys=2)
    table.values = {k: i for i, k in enumerate("abcde")}

    # when
    answers = await asyncio.gather(*(batches.get("g", k, table.load) for k in "abcde"))

    # then
    assert answers == [0, 1, 2, 3, 4]
    assert table.loads == [["a", "b"], ["c", "d"], ["e"]]
