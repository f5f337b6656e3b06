"""The dashboard and the demo app, served by every supernode, in Chromium against a real
network (chain + 3 supernodes as processes). Screenshots: tests/web/artifacts/."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flocloud.devnet import Network
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES, Placement
from web_helpers import console_errors, needs_chromium, off_machine_requests, py_client, run_async

pytestmark = [pytest.mark.slow, needs_chromium]
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"webpages-" + label.encode()).digest(), REGTEST)


@pytest.fixture(scope="module")
def dashboard(net: Network, browser: Any) -> Iterator[Any]:
    """Node 0's dashboard, open for the whole module."""
    page = browser.new_page(viewport=DESKTOP)
    errors, outside = console_errors(page), off_machine_requests(page)
    page.goto(net.nodes[0].url + "/")
    yield page
    page.close()
    assert [e for e in errors if "WebSocket" not in e and "Failed to load" not in e] == []
    assert outside == []


def rows_up(page: Any) -> int:
    return int(page.evaluate("document.querySelectorAll('#nodes tr[data-status=up]').length"))


def test_dashboard_shows_every_node_up(
    net: Network, dashboard: Any, browser: Any, artifacts: Path
) -> None:
    """Every registered supernode is listed from the chain, up (heartbeats), with who backs
    it up and its counters; the page is readable at 1400x900 and on a phone."""
    dashboard.wait_for_function(
        "document.querySelectorAll('#nodes tr[data-status=up]').length === 3", timeout=15_000
    )
    assert dashboard.inner_text("#node-id") == net.nodes[0].id
    assert dashboard.inner_text("#node-status") == "online"
    ids = dashboard.eval_on_selector_all("#nodes tbody tr", "rows => rows.map(r => r.dataset.id)")
    assert sorted(ids) == sorted(n.id for n in net.nodes)
    assert "from the chain" in dashboard.inner_text("#network-source")
    assert dashboard.inner_text("#epoch").startswith("#")
    # with backupDepth 2 on 3 nodes, each node's keys are backed up on both others
    backups = dashboard.eval_on_selector_all(
        "#nodes tbody tr", "rows => rows.map(r => r.children[3].querySelectorAll('.tag').length)"
    )
    assert backups == [2, 2, 2]
    dashboard.wait_for_function(
        "[...document.querySelectorAll('#nodes tbody tr')].every(r => r.children[4].textContent !== '–')"
    )
    dashboard.screenshot(path=str(artifacts / "dashboard-1400x900.png"))
    phone = browser.new_page(viewport=PHONE)
    phone.goto(net.nodes[0].url + "/")
    phone.wait_for_function(
        "document.querySelectorAll('#nodes tr[data-status=up]').length === 3", timeout=15_000
    )
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True)
    phone.close()
    assert width <= PHONE["width"]  # nothing sticks out sideways on a phone


def test_data_browser_follows_an_id_and_an_object(
    net: Network, dashboard: Any, artifacts: Path
) -> None:
    """An ID shows its replicas (home first) and its messages live; an invalid ID is an
    error, not "live"; an (app, object) shows its value and version history."""
    dashboard.fill("#lookup", "not-an-id")
    dashboard.click("#lookup-button")
    dashboard.wait_for_function("document.querySelector('#lookup-status').textContent !== ''")
    assert dashboard.inner_text("#lookup-status").startswith("invalid-address")
    assert dashboard.is_hidden("#feed-box")

    receiver = key("receiver").address
    dashboard.fill("#lookup", receiver)
    dashboard.click("#lookup-button")
    dashboard.wait_for_function(
        "document.querySelector('#watch-status').textContent.startsWith('live')", timeout=15_000
    )
    roles = dashboard.eval_on_selector_all("#replicas tr", "rows => rows.map(r => r.innerText)")
    assert len(roles) == 3 and roles[0].startswith("home")

    async def write() -> str:
        async with await py_client(net, net.client_key) as admin:
            mid = await admin.send(receiver, {"hello": "dashboard"}, app="web")
            v1 = await admin.reset("demo", "board", {"title": "todo", "items": []})
            await admin.patch("demo", "board", {"title": "TODO"})
            assert (await admin.get("demo", "board", v1)).value["title"] == "todo"
            return mid

    mid = run_async(write)
    dashboard.wait_for_selector(f"#feed tr.msg[data-id='{mid}']", timeout=10_000)
    assert '{"hello":"dashboard"}' in dashboard.inner_text("#feed")

    dashboard.fill("#lookup", "demo/board")
    dashboard.click("#lookup-button")
    dashboard.wait_for_function(
        "document.querySelectorAll('#history tbody tr').length === 2", timeout=10_000
    )
    assert '"TODO"' in dashboard.inner_text("#object-value")
    history = dashboard.inner_text("#history")
    assert '{"title":"TODO"}' in history and "reset" in history
    dashboard.screenshot(path=str(artifacts / "dashboard-object.png"), full_page=True)


def test_demo_app_between_two_contexts(net: Network, browser: Any, artifacts: Path) -> None:
    """Two people in two browser contexts (separate storage, separate keys): a message sent
    by one arrives for the other, and the shared note written by one shows for the other."""
    alice_ctx, bob_ctx = browser.new_context(viewport=DESKTOP), browser.new_context(viewport=PHONE)
    try:
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        errors = console_errors(alice) + console_errors(bob)
        outside = off_machine_requests(alice) + off_machine_requests(bob)
        for page in (alice, bob):
            page.goto(net.nodes[1].url + "/demo/")
            page.wait_for_function("document.querySelector('#me').textContent.startsWith('o')")
        # Alice uses the devnet's demo admin key (the app's objects are written by its admin)
        alice.fill("#wif", net.client_key.to_wif())
        alice.click("#use-wif")
        alice.wait_for_function(
            f"document.querySelector('#me').textContent === '{net.client_key.address}'"
        )
        bob_id = bob.inner_text("#me")
        assert bob_id != net.client_key.address
        alice.fill("#peer", bob_id)
        alice.click("#open")
        bob.fill("#peer", net.client_key.address)
        bob.click("#open")
        for page in (alice, bob):
            page.wait_for_function(
                "document.querySelector('#conn').textContent.startsWith('live')", timeout=15_000
            )
        alice.fill("#text", "hello Bob")
        alice.click("#send")
        bob.wait_for_function(
            "[...document.querySelectorAll('#chat li.theirs')].some(li => li.textContent.includes('hello Bob'))",
            timeout=10_000,
        )
        bob.fill("#text", "hi Alice")
        bob.click("#send")
        alice.wait_for_function(
            "[...document.querySelectorAll('#chat li.theirs')].some(li => li.textContent.includes('hi Alice'))",
            timeout=10_000,
        )
        alice.fill("#note", "buy milk")
        alice.click("#save-note")
        alice.wait_for_function("document.querySelector('#note-status').textContent === 'saved'")
        bob.wait_for_function(
            "document.querySelector('#note').value === 'buy milk'", timeout=10_000
        )
        assert alice.eval_on_selector_all("#chat li", "l => l.length") == 2
        alice.screenshot(path=str(artifacts / "demo-alice-1400x900.png"))
        bob.screenshot(path=str(artifacts / "demo-bob-phone.png"), full_page=True)
        assert [e for e in errors if "Failed to load" not in e] == [] and outside == []
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_killed_node_shows_down_within_5_seconds(
    net: Network, dashboard: Any, browser: Any, artifacts: Path
) -> None:
    """kill -9 a supernode: node 0's dashboard shows it down within 5 s (from heartbeats),
    and the killed node's own open dashboard says its node is not answering within 5 s."""
    victim = net.nodes[2]
    own = browser.new_page(viewport=DESKTOP)
    own.goto(victim.url + "/")
    own.wait_for_function("document.querySelector('#node-status').textContent === 'online'")
    # the demo app, for an ID whose home is the victim
    placement = Placement.build([n.id for n in net.nodes], DEFAULT_VIRTUAL_NODES)
    user = next(
        k
        for k in (key(f"demo-{i}") for i in range(200))
        if placement.preference_list(k.address)[0] == victim.id
    )
    friend = key("friend")
    demo = browser.new_page(viewport=DESKTOP)
    demo.goto(net.nodes[0].url + f"/demo/#peer={friend.address}")
    demo.wait_for_function("document.querySelector('#me').textContent.startsWith('o')")
    demo.fill("#wif", user.to_wif())
    demo.click("#use-wif")
    demo.wait_for_function(
        "document.querySelector('#conn').textContent.includes('(your home)')", timeout=15_000
    )
    assert rows_up(dashboard) == 3
    victim.kill()
    t0 = time.monotonic()
    dashboard.wait_for_function(
        f"document.querySelector('#nodes tr[data-id=\"{victim.id}\"]').dataset.status === 'down'",
        timeout=5_000,
    )
    own.wait_for_function(
        "document.querySelector('#node-status').textContent === 'not answering'",
        timeout=max(1, 5_000 - int((time.monotonic() - t0) * 1000)),
    )
    assert rows_up(dashboard) == 2
    assert "has not answered since" in own.inner_text("#banner")
    demo.wait_for_function(
        "document.querySelector('#conn').textContent.includes('(failed over)')", timeout=15_000
    )

    async def message() -> None:
        async with await py_client(net, friend) as c:
            await c.send(user.address, {"text": "still there?"}, app="demo")

    run_async(message)
    demo.wait_for_function(
        "document.querySelector('#chat').textContent.includes('still there?')", timeout=10_000
    )
    demo.screenshot(path=str(artifacts / "demo-failed-over.png"))
    demo.close()
    dashboard.screenshot(path=str(artifacts / "dashboard-node-down.png"))
    own.screenshot(path=str(artifacts / "dashboard-own-node-down.png"))
    own.close()
