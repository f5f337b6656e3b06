"""The one exception tree of flocloud.

Every error flocloud raises on purpose derives from ``FlocloudError`` and carries a
stable ``code`` (a short kebab-case string) that servers send back to clients
verbatim, plus a human message. Codes never change meaning once released.

::

    FlocloudError                       code: internal
    ├── ProtocolViolation               protocol-violation (input that breaks the rules)
    │   ├── BadFormat                   bad-format
    │   ├── InvalidSignature            invalid-signature
    │   ├── IdMismatch                  id-mismatch        (pubkey does not hash to the claimed ID)
    │   ├── InvalidAddress              invalid-address    (checksum, version byte, length)
    │   ├── WrongNetwork                wrong-network
    │   ├── InvalidKey                  invalid-key        (WIF or public key)
    │   ├── TooLarge                    too-large
    │   ├── TooDeep                     too-deep
    │   ├── StaleTime                   stale-time
    │   ├── UnsupportedVersion          unsupported-version
    │   ├── DecryptionFailed            decryption-failed
    │   └── SchemaMismatch              schema-mismatch
    ├── RequestRejected                 rejected (valid input the receiver refuses)
    │   ├── Forbidden                   forbidden
    │   ├── RateLimited                 rate-limited
    │   ├── QuotaExceeded               quota-exceeded
    │   ├── Duplicate                   duplicate
    │   ├── VersionConflict             version-conflict
    │   ├── NotFound                    not-found
    │   └── Unavailable                 unavailable
    │       ├── NotListed               not-listed     (a supernode the registry does not list)
    │       └── StaleEpoch              stale-epoch    (a majority round under another registry epoch)
    └── ChainError                      chain            (explorer, transaction codec, registry)
        ├── TxFormatError               tx-format
        ├── ExplorerError               explorer
        └── InsufficientFunds           insufficient-funds

``ERROR_CODES`` lists every code; ``error_from_code`` rebuilds an exception from a
code and message received over the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ERROR_CODES",
    "BadFormat",
    "ChainError",
    "DecryptionFailed",
    "Duplicate",
    "ExplorerError",
    "FlocloudError",
    "Forbidden",
    "IdMismatch",
    "InsufficientFunds",
    "InvalidAddress",
    "InvalidKey",
    "InvalidSignature",
    "NotFound",
    "NotListed",
    "ProtocolViolation",
    "QuotaExceeded",
    "RateLimited",
    "RequestRejected",
    "SchemaMismatch",
    "StaleEpoch",
    "StaleTime",
    "TooDeep",
    "TooLarge",
    "TxFormatError",
    "Unavailable",
    "UnsupportedVersion",
    "VersionConflict",
    "WrongNetwork",
    "error_from_code",
]


class FlocloudError(Exception):
    """Root of every flocloud error; ``code`` is stable and safe to show to clients."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str = "", details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        # machine-readable facts beside the code (e.g. an ``unavailable`` write's
        # ``replicas``): sent in the error object, never needed to understand the code
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"code": ..., "message": ..., **details}``."""
        return {**self.details, "code": self.code, "message": self.message}


class ProtocolViolation(FlocloudError):
    """Data that breaks the protocol rules."""

    code = "protocol-violation"


class BadFormat(ProtocolViolation):
    code = "bad-format"


class InvalidSignature(ProtocolViolation):
    code = "invalid-signature"


class IdMismatch(ProtocolViolation):
    code = "id-mismatch"


class InvalidAddress(ProtocolViolation):
    code = "invalid-address"


class WrongNetwork(ProtocolViolation):
    code = "wrong-network"


class InvalidKey(ProtocolViolation):
    code = "invalid-key"


class TooLarge(ProtocolViolation):
    code = "too-large"


class TooDeep(ProtocolViolation):
    code = "too-deep"


class StaleTime(ProtocolViolation):
    code = "stale-time"


class UnsupportedVersion(ProtocolViolation):
    code = "unsupported-version"


class DecryptionFailed(ProtocolViolation):
    code = "decryption-failed"


class SchemaMismatch(ProtocolViolation):
    code = "schema-mismatch"


class RequestRejected(FlocloudError):
    """Well-formed input that the receiver refuses."""

    code = "rejected"


class Forbidden(RequestRejected):
    code = "forbidden"


class RateLimited(RequestRejected):
    code = "rate-limited"


class QuotaExceeded(RequestRejected):
    code = "quota-exceeded"


class Duplicate(RequestRejected):
    code = "duplicate"


class VersionConflict(RequestRejected):
    code = "version-conflict"


class NotFound(RequestRejected):
    code = "not-found"


class Unavailable(RequestRejected):
    code = "unavailable"


class NotListed(Unavailable):
    """A supernode that the registry does not list takes no client writes (try a listed one)."""

    code = "not-listed"


class StaleEpoch(Unavailable):
    """A strict object's acceptor refuses a round run under another registry epoch (or
    with other acceptors than that epoch's); ``details["epoch"]`` is the acceptor's. The
    side on the older view refreshes its registry and the round is retried."""

    code = "stale-epoch"


class ChainError(FlocloudError):
    """Blockchain layer: transaction codec, explorers, registry."""

    code = "chain"


class TxFormatError(ChainError):
    code = "tx-format"


class ExplorerError(ChainError):
    code = "explorer"


class InsufficientFunds(ChainError):
    code = "insufficient-funds"


def _all_subclasses(cls: type[FlocloudError]) -> list[type[FlocloudError]]:
    out: list[type[FlocloudError]] = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


_BY_CODE: dict[str, type[FlocloudError]] = {c.code: c for c in _all_subclasses(FlocloudError)}
ERROR_CODES: frozenset[str] = frozenset(_BY_CODE)


def error_from_code(
    code: str, message: str = "", details: Mapping[str, Any] | None = None
) -> FlocloudError:
    """Rebuild the exception for a wire error code (unknown codes give ``FlocloudError``)."""
    cls = _BY_CODE.get(code, FlocloudError)
    err = cls(message or code, details)
    if cls is FlocloudError and code != FlocloudError.code:
        err.message = f"{code}: {message}"
    return err
