"""``fast_init``: the same instances as the dataclass's own ``__init__``, or the class
untouched."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flocloud.protocol.envelope import Body, Envelope
from flocloud.protocol.fingerprint import Fingerprint
from flocloud.protocol.frozen import fast_init
from flocloud.storage.store import PutResult, Record


def _pair() -> tuple[type[Any], type[Any]]:
    """The same class twice: as the dataclass made it, and with ``fast_init``."""

    def make() -> type[Any]:
        @dataclass(frozen=True, slots=True)
        class C:
            a: int
            b: str
            c: tuple[int, ...] = ()
            d: str | None = field(default=None, compare=False)
            e: int = field(default=7, init=False)
            f: int = field(init=False, repr=False)

            def __post_init__(self) -> None:
                object.__setattr__(self, "f", self.a * 2)

        return C

    return make(), fast_init(make())


def _state(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


@given(st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=3), st.booleans())
def test_fast_init_builds_what_the_dataclass_builds(a: int, b: str, c: list[int], kw: bool) -> None:
    plain, fast = _pair()
    assert fast.__init__.__code__.co_filename == "<flocloud.protocol.frozen>"
    args: tuple[Any, ...] = (a, b, tuple(c))
    x = plain(*args, d="n") if kw else plain(a, b=b)
    y = fast(*args, d="n") if kw else fast(a, b=b)
    assert _state(x) == _state(y) and repr(x) == repr(y)
    assert dataclasses.replace(y, a=a + 1).f == 2 * (a + 1)
    assert copy.deepcopy(y) == y and _state(copy.copy(y)) == _state(y)
    with pytest.raises(dataclasses.FrozenInstanceError):
        y.a = 1
    for bad in ((), (1, "b", (), None, 5)):  # too few, and the field outside __init__
        with pytest.raises(TypeError):
            fast(*bad)
    with pytest.raises(TypeError):
        fast(1, "b", e=3)


def test_a_field_inherited_is_stored_through_its_base_slot() -> None:
    @dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @fast_init
    @dataclass(frozen=True, slots=True)
    class Child(Base):
        b: str = "x"

    assert Child.__init__.__code__.co_filename == "<flocloud.protocol.frozen>"
    assert _state(Child(1)) == (1, "x") and Child(2, "y") == Child(a=2, b="y")


def test_classes_it_does_not_cover_come_back_untouched() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int]

    @dataclass(frozen=True, slots=True)
    class WithClassVar:
        a: int
        n: ClassVar[int] = 1

    class NotADataclass:
        pass

    for cls in (NoSlots, NotFrozen, Factory, KeywordOnly, WithInitVar, WithClassVar):
        before = cls.__init__
        assert fast_init(cls) is cls and cls.__init__ is before, cls
    assert fast_init(NotADataclass) is NotADataclass


def test_the_hot_classes_use_it() -> None:
    """The classes every write and every query row builds."""
    for cls in (Body, Envelope, Record, PutResult, Fingerprint):
        assert cls.__init__.__code__.co_filename == "<flocloud.protocol.frozen>", cls
    body = Body(type="m", senderID="s", receiverID="r", application="", time=1, payload={})
    env = Envelope(body, "ünï", b"p", b"s", "id")
    assert (env.size, env.id, body.comment, body.v) == (len("ünï".encode()), "id", None, 1)
    assert pickle.loads(pickle.dumps(env)) == env  # as envelopes go to the signature workers
    assert PutResult(3).dots == () and Fingerprint().count == 0
