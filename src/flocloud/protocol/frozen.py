"""A faster ``__init__`` for frozen, slotted dataclasses (``fast_init``).

A frozen dataclass's generated ``__init__`` stores each field through
``object.__setattr__(self, name, value)``, a lookup of the name in the class for every
field of every instance: 2.2 µs for an envelope's ``Body`` (8 fields) and 2.9 µs for a
stored ``Record`` (18) here, built for every write and every row of a query page.
``fast_init`` gives such a class an ``__init__`` that stores each field through its
slot's own descriptor, looked up once when the class is made (about 2× faster).

Invariants owned here:
- The new ``__init__`` takes exactly the parameters of the generated one (names, order,
  defaults), stores the same values in the same fields, stores a field's default for a
  field outside ``__init__`` that has one, then calls ``__post_init__`` when the class
  has one. Everything else of the class (frozen, eq, hash, repr, ``dataclasses.replace``,
  pickling) is untouched.
- A class it does not cover is returned as it was: not a dataclass, not frozen, not
  slotted, without a generated ``__init__``, or with a ``default_factory``, an
  ``InitVar``, a ``ClassVar``, a keyword-only field or a field without a slot's
  descriptor in its class or a base.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")

_SOURCE = "<flocloud.protocol.frozen>"


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass a faster ``__init__`` (see the module docstring);
    apply it above ``@dataclass(frozen=True, slots=True)``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not (params.frozen and params.init) or "__slots__" not in vars(cls):
        return cls
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        return cls  # an InitVar or a ClassVar
    if any(f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields):
        return cls
    names = {f.name for f in fields}
    if "self" in names or any(n.startswith("_fi_") for n in names):
        return cls
    slots = {}
    for f in fields:  # the slot may be a base class's (a field inherited)
        owner = next((c for c in cls.__mro__ if f.name in vars(c)), None)
        slot = vars(owner).get(f.name) if owner is not None else None
        if not isinstance(slot, types.MemberDescriptorType):
            return cls
        slots[f.name] = slot
    namespace: dict[str, Any] = {}
    params_src: list[str] = []
    body: list[str] = []
    for i, f in enumerate(fields):
        namespace[f"_fi_set{i}"] = slots[f.name].__set__  # the slot's descriptor
        has_default = f.default is not dataclasses.MISSING
        if has_default:
            namespace[f"_fi_default{i}"] = f.default
        if f.init:
            params_src.append(f"{f.name}=_fi_default{i}" if has_default else f.name)
            body.append(f"_fi_set{i}(self, {f.name})")
        elif has_default:
            body.append(f"_fi_set{i}(self, _fi_default{i})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params_src)}) -> None:\n"
    source += "".join(f"    {line}\n" for line in body or ["pass"])
    exec(compile(source, _SOURCE, "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    type.__setattr__(cls, "__init__", init)  # (a method assigned: mypy refuses ``cls.__init__ =``)
    return cls
