"""BatchVerifier: checks in worker processes give exactly ``check_signature``'s answers,
and a worker that dies costs no write."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import signal

import pytest

from flocloud.node.verify import MAX_RESTARTS, BatchVerifier
from flocloud.protocol.envelope import Envelope, build_envelope, check_signature
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST

A = PrivateKey(hashlib.sha256(b"verify-a").digest(), REGTEST)


def _envelopes(n: int) -> list[Envelope]:
    good = [build_envelope(A, receiver=A.address, payload={"i": i}, time_ms=1) for i in range(n)]
    out: list[Envelope] = []
    for i, env in enumerate(good):
        if i % 5 == 1:  # another body under the same signature
            env = dataclasses.replace(env, body_text=env.body_text.replace('"i":', '"i" :'))
        elif i % 5 == 2:  # a signature that is not DER
            env = dataclasses.replace(env, signature=b"\x30\x02\x01")
        elif i % 5 == 3:  # a public key off the curve
            env = dataclasses.replace(env, pubkey=b"\x02" + b"\xff" * 32)
        out.append(env)
    return out


def _inline(env: Envelope) -> tuple[str, str] | None:
    try:
        check_signature(env)
    except FlocloudError as exc:
        return (exc.code, exc.message)
    return None


async def _answers(v: BatchVerifier, envs: list[Envelope]) -> list[tuple[str, str] | None]:
    got = await asyncio.gather(*(v.check(e) for e in envs), return_exceptions=True)
    out: list[tuple[str, str] | None] = []
    for g in got:
        assert g is None or isinstance(g, FlocloudError), g
        out.append(None if g is None else (g.code, g.message))
    return out


@pytest.mark.parametrize("mode", [{"threads": 0}, {"threads": 2}, {"threads": 1, "processes": 2}])
async def test_every_mode_answers_as_check_signature(mode: dict[str, int]) -> None:
    envs = _envelopes(300)
    want = [_inline(e) for e in envs]
    assert {w[0] for w in want if w} == {"invalid-signature", "bad-format"}
    v = BatchVerifier(**mode)
    v.start()
    try:
        assert await _answers(v, envs) == want
        assert v.restarts == 0
    finally:
        v.close()


async def test_a_dead_worker_costs_no_write() -> None:
    """Kill the worker processes while batches are in flight: every check still gets the
    right answer (re-checked on a thread); after ``MAX_RESTARTS`` deaths the verifier
    stays on its threads."""
    envs = _envelopes(200)
    want = [_inline(e) for e in envs]
    v = BatchVerifier(threads=1, processes=2)
    v.start()
    try:
        assert await _answers(v, envs) == want  # the workers are up
        for death in range(MAX_RESTARTS):
            v.start()  # as the next batch would
            pids = v.worker_pids()
            assert len(pids) == 2 and v.processes == 2
            await workers_ready(v)  # the batches go to them, not to the threads
            pending = asyncio.gather(*(v.check(e) for e in envs), return_exceptions=True)
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            got = await pending
            assert [None if g is None else (g.code, g.message) for g in got] == want  # type: ignore[union-attr]
            assert v.restarts == death + 1
        assert v.processes == 0 and v.worker_pids() == []  # on the threads for good
        assert await _answers(v, envs) == want
    finally:
        v.close()


async def workers_ready(v: BatchVerifier) -> None:
    for _ in range(3000):  # bounded: 30 s for two interpreters to start
        if v.workers_ready() == v.processes:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker processes did not say they were ready in 30 s")


async def test_checks_do_not_wait_for_the_workers_to_start() -> None:
    """Batches that come before any worker is ready are checked on the threads (a node
    that has just started answers its first writes without waiting for two interpreters
    to start); once the workers are ready, batches go to them."""
    envs = _envelopes(300)
    want = [_inline(e) for e in envs]
    v = BatchVerifier(threads=1, processes=2)
    v.start()
    try:
        assert v.workers_ready() == 0  # a spawned interpreter is not up in this tick
        assert await _answers(v, envs) == want
        early = v.early
        assert early > 0
        await workers_ready(v)
        assert await _answers(v, envs) == want
        assert v.early == early and v.restarts == 0  # all of them on the workers
    finally:
        v.close()


async def test_small_batches_are_checked_on_the_loop_with_the_same_answers() -> None:
    """One check at a time is a batch of one: checked on the event loop (``inline``), with
    ``check_signature``'s answers; a large batch still goes to the workers."""
    envs = _envelopes(40)
    want = [_inline(e) for e in envs]
    v = BatchVerifier(threads=1, processes=2, inline_max=4)
    v.start()
    try:
        assert [(await _answers(v, [e]))[0] for e in envs] == want
        assert v.inline == len(envs) and v.checked == len(envs)
        many = _envelopes(200)
        assert await _answers(v, many) == [_inline(e) for e in many]
        assert v.inline == len(envs)  # the 200 went to the workers
        assert v.checked == len(envs) + 200
    finally:
        v.close()


async def test_close_answers_everything_and_starts_nothing_again() -> None:
    """Checks in flight when the verifier closes get an answer (theirs, or
    ``unavailable``), none waits forever; a check after close is answered too and no
    worker process starts again."""
    envs = _envelopes(300)
    want = [_inline(e) for e in envs]
    v = BatchVerifier(threads=1, processes=2, inline_max=4)
    v.start()
    assert await _answers(v, envs[:100]) == want[:100]  # the workers are up
    pending = asyncio.gather(*(v.check(e) for e in envs), return_exceptions=True)
    await asyncio.sleep(0)  # handed to the workers
    v.close()
    got = await asyncio.wait_for(pending, 10)
    for g, w in zip(got, want, strict=True):
        answer = None if g is None else (g.code, g.message)  # type: ignore[union-attr]
        assert answer == w or answer == ("unavailable", "the node is stopping"), answer
    late = await asyncio.wait_for(
        asyncio.gather(*(v.check(e) for e in envs[:50]), return_exceptions=True), 10
    )
    assert all(isinstance(g, FlocloudError) and g.code == "unavailable" for g in late)
    assert v.worker_pids() == []
