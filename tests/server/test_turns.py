"""Turns on the event loop: heavy requests start a few per pass, in arrival order, so a light
request arriving behind many heavy ones is answered within a pass or two."""

from __future__ import annotations

import asyncio

import pytest

from medfed.server.turns import Turns


async def _heavy(turns: Turns, name: int, log: list[str]) -> None:
    await turns.take()
    log.append(f"heavy {name}")


def test_heavy_requests_start_a_few_per_pass_in_arrival_order() -> None:
    async def scenario() -> list[str]:
        turns, log = Turns(per_pass=3), []
        heavy = [asyncio.create_task(_heavy(turns, i, log)) for i in range(30)]
        await asyncio.sleep(0)  # every heavy request has asked for its turn

        async def light() -> None:
            log.append("light")

        await asyncio.gather(*heavy, asyncio.create_task(light()))
        return log

    log = asyncio.run(scenario())
    heavy = [entry for entry in log if entry != "light"]
    assert heavy == [f"heavy {i}" for i in range(30)]  # first come, first served
    # Without turns the light request would come after all 30; with 3 per pass, after a few.
    assert log.index("light") <= 6, log


def test_a_cancelled_waiter_gives_way_and_nothing_waits_forever() -> None:
    async def scenario() -> list[str]:
        turns, log = Turns(per_pass=1), []
        tasks = [asyncio.create_task(_heavy(turns, i, log)) for i in range(4)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
        assert turns.waiting == 0
        return log

    assert asyncio.run(scenario()) == ["heavy 0", "heavy 2", "heavy 3"]


def test_turns_need_at_least_one_per_pass() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Turns(per_pass=0)
