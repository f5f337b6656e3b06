"""The client's routes (``client/network.py``): the membership's holders, in order, with
nodes marked down moved last; cached per membership, never stale."""

from __future__ import annotations

from flocloud.client.network import ROUTES_CACHED, NetworkView
from flocloud.devnet.network import deterministic_key
from flocloud.protocol.membership import Membership


def _membership(n: int, epoch: int = 1) -> Membership:
    keys = [deterministic_key(f"view-{i}") for i in range(n)]
    return Membership.build(
        {k.address: (f"127.0.0.1:{7000 + i}", k.pubkey_hex) for i, k in enumerate(keys)},
        3, 2, 8, epoch=epoch,
    )  # fmt: skip


def test_routes_follow_the_membership_and_the_down_marks() -> None:
    now = [0.0]
    view = NetworkView(_membership(6), down_for=5.0, clock=lambda: now[0])
    key = deterministic_key("view-user").address
    holders = view.membership.route(key)
    asked: list[str] = []
    real = view.membership.route
    object.__setattr__(view.membership, "route", lambda k: asked.append(k) or real(k))
    assert [n.id for n in view.route(key)] == holders
    assert [n.id for n in view.route(key)] == holders  # from the cache: the same
    assert asked == [key]  # computed once
    view.mark_down(holders[0])
    assert [n.id for n in view.route(key)] == holders[1:] + holders[:1]
    now[0] = 6.0  # the mark expired
    assert [n.id for n in view.route(key)] == holders
    view.mark_up(holders[0])
    route = view.route(key)
    route.pop()  # a caller's list is its own
    assert [n.id for n in view.route(key)] == holders


def test_a_new_membership_is_routed_by_anew() -> None:
    view = NetworkView(_membership(6))
    keys = [deterministic_key(f"view-user-{i}").address for i in range(20)]
    for k in keys:
        view.route(k)
    view.membership = _membership(4, epoch=2)
    view.nodes = {k: n for k, n in view.nodes.items() if k in view.membership.nodes}
    for k in keys:
        assert [n.id for n in view.route(k)] == view.membership.route(k)


def test_the_cache_stays_bounded() -> None:
    view = NetworkView(_membership(5))
    keys = [deterministic_key(f"view-key-{i}").address for i in range(ROUTES_CACHED + 10)]
    for k in keys:
        view.route(k)
    assert 0 < len(view._routes) <= ROUTES_CACHED and keys[-1] in view._routes
