"""The user commands (send, fetch, watch, object, delete, export, import) against a real devnet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flocloud.devnet import Network
from net_helpers import running_network

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(
        tmp_path_factory.mktemp("clinet") / ".devnet", nodes=2, block_interval=0.5, backup_depth=1
    )


class Cli:
    def __init__(self, devnet: Network, home: Path) -> None:
        self.cwd = devnet.base.parent  # the CLI finds .devnet/devnet.json from here
        self.env = {**os.environ, "FLOCLOUD_CONFIG_DIR": str(home), "PYTHONUNBUFFERED": "1"}
        self.admin = ["--key-file", str(devnet.base / "client-key.json")]
        self.admin_id = devnet.client_key.address

    def __call__(
        self, *args: str, stdin: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "flocloud.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=self.env,
            timeout=60,
        )
        if check:
            assert out.returncode == 0, out.stderr
        return out


def test_user_commands(devnet: Network, tmp_path: Path) -> None:
    """id new --save, send, fetch --json with the cursor, object commands, delete, watch."""
    cli = Cli(devnet, tmp_path / "home")
    me = json.loads(cli("id", "new", "--save", "--testnet", "--json").stdout)["floID"]
    first = cli("send", me, '{"n": 1}', "--app", "chat").stdout.strip()
    second = cli("send", me, "--text", "--app", "chat", stdin="plain words").stdout.strip()
    rows = [json.loads(line) for line in cli("fetch", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == [first, second] and rows[1]["payload"] == "plain words"
    cursor = cli("fetch", "--json").stderr.strip().split()[-1]
    third = cli("send", me, '{"n": 3}', "--min-replicas", "2").stdout.strip()
    too_many = cli("send", me, '{"n": 4}', "--min-replicas", "9", check=False)
    # refused before anything is sent: the registry keeps 2 replicas; exit 3 = invalid input
    assert too_many.returncode == 3 and "must be 1 to 2" in too_many.stderr
    newest = json.loads(cli("fetch", "--json", "--newest-first").stdout.splitlines()[0])["id"]
    newer = [
        json.loads(line)["id"]
        for line in cli("fetch", "--json", "--after", cursor).stdout.splitlines()
    ]
    assert newer == [third] and newest == third  # the refused one is stored, as it says
    v1 = cli("object", "reset", "demo", "cfg", '{"a": 1}', *cli.admin).stdout.strip()
    assert v1.startswith("1-")
    v2 = cli("object", "patch", "demo", "cfg", '{"b": 2}', *cli.admin).stdout.strip()
    v3 = cli("object", "append", "demo", "cfg", "4", "--path", "list", *cli.admin).stdout.strip()
    assert v2.startswith("2-") and v3.startswith("3-")
    got = json.loads(cli("object", "get", "demo", "cfg").stdout)
    assert (got["version"], got["mode"], got["value"]) == (
        v3,
        "merge",
        {"a": 1, "b": 2, "list": [4]},
    )
    diff = json.loads(cli("object", "changes", "demo", "cfg", "--since", v1, "--diff").stdout)
    assert diff["patch"] == {"b": 2, "list": [4]}
    history = cli("object", "history", "demo", "cfg").stdout.splitlines()
    assert [line.split()[0] for line in history] == [v1, v2, v3]
    assert all(cli.admin_id in line for line in history)
    # a strict object: compare-and-set; a stale version is refused and says what is current
    s1 = cli("object", "reset", "demo", "strict/cfg", '{"n": 1}', *cli.admin).stdout.strip()
    s2 = cli("object", "patch", "demo", "strict/cfg", '{"n": 2}', "--expected-version", s1,
             *cli.admin).stdout.strip()  # fmt: skip
    conflict = cli("object", "patch", "demo", "strict/cfg", '{"n": 3}', "--expected-version", s1,
                   *cli.admin, check=False)  # fmt: skip
    assert conflict.returncode != 0 and "version-conflict" in conflict.stderr
    assert s2 in conflict.stderr and '{"n":2}' in conflict.stderr  # what the object is now
    cli("delete", first)
    remaining = [json.loads(line)["id"] for line in cli("fetch", "--json").stdout.splitlines()]
    assert first not in remaining and second in remaining
    watch = subprocess.Popen(
        [sys.executable, "-m", "flocloud.cli", "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cli.cwd,
        env=cli.env,
    )
    try:
        live = cli("send", me, '{"live": true}').stdout.strip()
        seen: list[str] = []
        deadline = time.time() + 30
        while live not in seen and time.time() < deadline:
            line = watch.stdout.readline() if watch.stdout else ""
            if line:
                seen.append(json.loads(line)["id"])
        assert live in seen and second in seen
    finally:
        watch.terminate()
        watch.communicate(timeout=10)


def test_export_import_round_trip(devnet: Network, tmp_path: Path) -> None:
    """export writes signed envelopes; import re-stores them idempotently elsewhere."""
    cli = Cli(devnet, tmp_path / "home2")
    me = json.loads(cli("id", "new", "--save", "--testnet", "--json").stdout)["floID"]
    ids = [cli("send", me, json.dumps({"k": i})).stdout.strip() for i in range(3)]
    dump = tmp_path / "dump.jsonl"
    exported = cli("export", "--file", str(dump))
    assert "exported 3 messages" in exported.stderr
    assert [json.loads(line)["id"] for line in dump.read_text().splitlines()] == ids
    again = cli("import", str(dump))
    assert "stored 0, duplicates 3, failed 0" in again.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        dump.read_text().splitlines()[0].replace('\\"k\\":0', '\\"k\\":9') + "\nnot json\n"
    )
    bad = cli("import", str(broken), check=False)
    assert bad.returncode == 1 and "failed 2" in bad.stderr and "Traceback" not in bad.stderr
