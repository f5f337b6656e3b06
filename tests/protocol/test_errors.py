"""The exception tree: unique stable codes, wire round trip, documented shape."""

from __future__ import annotations

from flocloud.protocol import errors
from flocloud.protocol.errors import ERROR_CODES, FlocloudError, error_from_code


def _classes() -> list[type[FlocloudError]]:
    return [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, FlocloudError)
    ]


def test_codes_are_unique() -> None:
    """No two classes share a code."""
    codes = [c.code for c in _classes()]
    assert len(codes) == len(set(codes))


def test_wire_round_trip() -> None:
    """Every code rebuilds its own class from the wire form."""
    for cls in _classes():
        err = error_from_code(cls.code, "why")
        assert type(err) is cls
        assert err.to_dict() == {"code": cls.code, "message": "why"}


def test_unknown_code() -> None:
    """An unknown code becomes a FlocloudError that keeps the code in its message."""
    err = error_from_code("brand-new", "x")
    assert type(err) is FlocloudError
    assert "brand-new" in err.message


def test_docstring_draws_every_code() -> None:
    """The module docstring's tree mentions every code."""
    doc = errors.__doc__ or ""
    missing = [c for c in ERROR_CODES if c not in doc]
    assert missing == []
