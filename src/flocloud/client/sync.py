"""``SyncClient``: a blocking facade over ``Client`` for scripts and notebooks.

Invariant: one private event loop runs in a daemon thread; every method submits the
coroutine of the same-named ``Client`` method to it and waits, so the behaviour is the
async client's, exactly.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from flocloud.protocol.keys import PrivateKey

from .client import Client, Cursor, Message, Page
from .network import NetworkView
from .objects import ObjectChange, ObjectChanges, ObjectDiff, ObjectState

__all__ = ["SyncClient"]

T = TypeVar("T")


class SyncClient:
    """Blocking client. Use as a context manager or call ``close()``."""

    def __init__(self, client_factory: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: Client = self._run(client_factory())

    @classmethod
    def from_chain(cls, key: PrivateKey, *, explorer: str, registry: str, **kw: Any) -> SyncClient:
        return cls(lambda: Client.from_chain(key, explorer=explorer, registry=registry, **kw))

    @classmethod
    def from_network(cls, key: PrivateKey, network: NetworkView, **kw: Any) -> SyncClient:
        async def make() -> Client:
            return Client(key, network, **kw)

        return cls(make)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def id(self) -> str:
        return self._client.id

    def send(self, receiver: str, data: Any, **kw: Any) -> str:
        return self._run(self._client.send(receiver, data, **kw))

    def fetch(self, receiver: str | None = None, **kw: Any) -> tuple[list[Message], Cursor | None]:
        return self._run(self._client.fetch(receiver, **kw))

    def get(self, app: str, name: str, version: str | None = None, **kw: Any) -> ObjectState:
        return self._run(self._client.get(app, name, version, **kw))

    def fetch_page(self, receiver: str | None = None, **kw: Any) -> Page:
        return self._run(self._client.fetch_page(receiver, **kw))

    def changes(
        self, app: str, name: str, since_version: str, **kw: Any
    ) -> ObjectChanges | ObjectDiff:
        return self._run(self._client.changes(app, name, since_version, **kw))

    def history(self, app: str, name: str) -> tuple[ObjectChange, ...]:
        return self._run(self._client.history(app, name))

    def reset(self, app: str, name: str, value: Any, **kw: Any) -> str:
        return self._run(self._client.reset(app, name, value, **kw))

    def patch(self, app: str, name: str, patch: Any, **kw: Any) -> str:
        return self._run(self._client.patch(app, name, patch, **kw))

    def append(self, app: str, name: str, item: Any, **kw: Any) -> str:
        return self._run(self._client.append(app, name, item, **kw))

    def delete(self, message_id: str, **kw: Any) -> str:
        return self._run(self._client.delete(message_id, **kw))

    def tag(self, message_id: str, tag: str | None, *, receiver: str) -> str:
        return self._run(self._client.tag(message_id, tag, receiver=receiver))

    def note(self, message_id: str, note: str | None, *, receiver: str) -> str:
        return self._run(self._client.note(message_id, note, receiver=receiver))

    def resolve_pubkey(self, flo_id: str) -> bytes:
        return self._run(self._client.resolve_pubkey(flo_id))

    def subscribe(self, receiver: str | None = None, **filters: Any) -> Iterator[Message]:
        """Blocking iterator over stored, then live, messages."""
        out: queue.Queue[Message | BaseException] = queue.Queue(maxsize=1000)

        async def pump() -> None:
            try:
                async for msg in self._client.subscribe(receiver, **filters):
                    await asyncio.to_thread(out.put, msg)
            except BaseException as exc:  # delivered to the consumer thread
                out.put(exc)

        task = asyncio.run_coroutine_threadsafe(pump(), self._loop)
        try:
            while True:
                item = out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            task.cancel()

    def close(self) -> None:
        try:
            self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
