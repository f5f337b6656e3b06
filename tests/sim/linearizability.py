"""A linearizability checker (Wing & Gong's search, with Lowe's memoization, as Knossos
and Porcupine do it), and the models it checks strict objects against. Pure.

A history is a list of ``Op``: what was called, when (``call``), when it returned
(``ret``) and what it returned. An op whose outcome is unknown (a timeout, ``unavailable``)
has ``ret = None``: it may have taken effect at any point after its call, or never.

``check(model, history)`` searches for a total order of the ops that (1) respects real
time (an op that returned before another was called comes first), (2) is legal for the
sequential ``model``, (3) contains every op with a known outcome (unknown ones may be
left out). It returns such an order, or None when there is none: the history is not
linearizable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Op", "cas_register", "check"]


@dataclass(frozen=True)
class Op:
    call: float
    ret: float | None  # None: outcome unknown
    input: Any
    output: Any = None

    @property
    def known(self) -> bool:
        return self.ret is not None


# a model: (initial state, step(state, input, output) -> new state or None if illegal)
Model = tuple[Any, Callable[[Any, Any, Any], Any]]
_ILLEGAL = object()


def cas_register(initial: Any) -> Model:
    """A compare-and-set register of versions. Inputs: ``("cas", expected, new)`` with
    output ``"ok"``, ``"fail"`` (the state was not ``expected``) or None (unknown: then it
    took effect if linearized); ``("read",)`` with output the state."""

    def step(state: Any, inp: Any, out: Any) -> Any:
        if inp[0] == "read":
            return state if out == state else _ILLEGAL
        _, expected, new = inp
        if out == "fail":
            return state if state != expected else _ILLEGAL
        return new if state == expected else _ILLEGAL  # "ok" or unknown-and-applied

    return initial, step


def check(model: Model, history: Sequence[Op]) -> list[int] | None:
    """A linearization (indexes into ``history``) or None; see the module docstring."""
    initial, step = model
    ops = list(history)
    n = len(ops)
    if n > 62:
        raise ValueError("the search keeps a bitmask: at most 62 ops per history")
    ret = [op.ret if op.ret is not None else math.inf for op in ops]
    required = 0
    for i, op in enumerate(ops):
        if op.known:
            required |= 1 << i
    seen: set[tuple[int, Any]] = set()
    order: list[int] = []

    def search(done: int, state: Any) -> bool:
        if done & required == required:
            return True
        key = (done, _freeze(state))
        if key in seen:
            return False
        seen.add(key)
        # the ops that may come next: not done, called before every pending op returned
        horizon = min(ret[i] for i in range(n) if not done >> i & 1)
        for i in sorted(range(n), key=lambda j: ops[j].call):
            if done >> i & 1 or ops[i].call > horizon:
                continue
            new = step(state, ops[i].input, ops[i].output)
            if new is _ILLEGAL:
                continue
            order.append(i)
            if search(done | 1 << i, new):
                return True
            order.pop()
        return False

    return list(order) if search(0, initial) else None


def _freeze(state: Any) -> Any:
    if isinstance(state, list):
        return tuple(_freeze(x) for x in state)
    if isinstance(state, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in state.items()))
    return state
