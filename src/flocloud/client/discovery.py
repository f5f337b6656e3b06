"""Finding the network: the registry's supernodes from an explorer, and where an ID lives.

Invariants owned here:
- Every explorer gets at most ``timeout`` seconds in all, its own retries included; the
  next explorer is tried after a notice, and the last error is raised when none answers.
- ``locate`` shows the first ``2 * replication_factor`` nodes of an ID's preference list
  (home, replicas, then the stand-ins that take over), each probed once, concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from flocloud.protocol.errors import FlocloudError, Unavailable
from flocloud.protocol.keys import PrivateKey

from .network import NetworkView, NodeRef

__all__ = ["load_network", "locate"]


async def load_network(
    explorers: Sequence[str],
    registry: str,
    key: PrivateKey,
    *,
    kind: str = "blockbook",
    min_confirmations: int = 6,
    timeout: float = 5.0,
    on_notice: Callable[[str], None] | None = None,
) -> NetworkView:
    """The registry's supernodes from the first explorer that answers within ``timeout``
    (read by the chain layer's ``RegistryFollower``, the one reader of the registry)."""
    from flocloud.chain.explorers import make_reader
    from flocloud.chain.follower import RegistryFollower
    from flocloud.protocol.errors import ChainError, ExplorerError

    notice = on_notice or (lambda _msg: None)
    last: FlocloudError = ExplorerError("no explorer configured")
    for n, url in enumerate(explorers):
        # each HTTP try gets under half the budget (one retry fits); the deadline around
        # the whole load is what holds: the reader's own retries cannot stretch it
        reader = make_reader(kind, url, timeout=0.45 * timeout, retries=1)
        follower = RegistryFollower(
            [reader], registry, key.network, confirmations=min_confirmations, timeout=timeout
        )
        try:
            async with asyncio.timeout(timeout):  # not wait_for (node/wake.py)
                state = await follower.load()
        except TimeoutError:
            last = ExplorerError(f"explorer {url} did not answer within {timeout:g} s")
        except ChainError as exc:
            last = exc
        else:
            if not state.nodes:
                raise Unavailable(f"the registry {registry} lists no supernodes")
            return await asyncio.to_thread(NetworkView.from_state, state, clock=time.monotonic)
        finally:
            await follower.aclose()
        if n + 1 < len(explorers):
            notice(f"{last.message}; trying the next explorer")
    raise last


async def locate(
    network: NetworkView, session: aiohttp.ClientSession, key_id: str, timeout: float
) -> list[dict[str, Any]]:
    """The home, replicas and stand-ins of ``key_id``, each up or down now."""
    rf = network.replication_factor
    shown = [network.nodes[i] for i in network.membership.holders(key_id)][: 2 * rf]

    async def up(node: NodeRef) -> bool:
        try:
            async with session.get(
                node.http_url + "/healthz", timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    states = await asyncio.gather(*(up(n) for n in shown))
    live = [n for n, ok in zip(shown, states, strict=True) if ok]
    serving = {n.id for n in live[:rf]}
    return [
        {
            "rank": rank,
            "role": "home" if rank == 0 else "replica" if rank < rf else "stand-in",
            "id": node.id,
            "uri": node.uri,
            "up": ok,
            "serving": node.id in serving,
        }
        for rank, (node, ok) in enumerate(zip(shown, states, strict=True))
    ]
