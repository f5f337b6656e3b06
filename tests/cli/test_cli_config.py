"""Profiles and presets, exit codes, output formats, devnet state handling: no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flocloud.cli.main import cli
from flocloud.cli.output import EXIT_CODES, Output, exit_code
from flocloud.client.profiles import PRESETS, find_chain_source
from flocloud.devnet.control import alive
from flocloud.devnet.network import pid_start_time
from flocloud.protocol import errors as e


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("FLOCLOUD_EXPLORER", "FLOCLOUD_REGISTRY", "FLOCLOUD_PROFILE", "FLOCLOUD_NETWORK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FLOCLOUD_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg").mkdir()
    return tmp_path


def test_exit_codes_are_distinct_per_kind() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert exit_code(e.BadFormat("x")) == EXIT_CODES["invalid"] == 3
    assert exit_code(e.NotFound("x")) == 4
    assert exit_code(e.VersionConflict("x")) == exit_code(e.Duplicate("x")) == 5
    assert exit_code(e.Forbidden("x")) == exit_code(e.RateLimited("x")) == 6
    assert exit_code(e.Unavailable("x")) == exit_code(e.NotListed("x")) == 7
    assert exit_code(e.ExplorerError("x")) == 7
    assert exit_code(e.InsufficientFunds("x")) == 8
    assert exit_code(e.FlocloudError("x")) == 1


def test_presets_profiles_and_devnet_order(home: Path) -> None:
    main = find_chain_source(profile="mainnet")
    assert (main.registry, main.network) == (PRESETS["mainnet"]["registry"], "mainnet")
    assert main.explorer.startswith("https://")
    with pytest.raises(e.NotFound, match="no network configured"):
        find_chain_source()
    (home / "cfg" / "config.toml").write_text(
        'profile = "mine"\n[profiles.mine]\npreset = "testnet"\nregistry = "oTYdneAk1p9XCADx32QybGiTW852p1CKGT"\n'
        '[profiles.two]\nnetwork = "regtest"\nexplorer = ["http://a:1", "http://b:2"]\nregistry = "r"\n'
    )
    mine = find_chain_source()
    assert (mine.network, mine.origin) == ("testnet", "profile mine")
    assert mine.explorer == PRESETS["testnet"]["explorer"][0]
    assert find_chain_source(profile="two").all_explorers == ("http://a:1", "http://b:2")
    # a devnet in the working directory comes before the default profile
    (home / ".devnet").mkdir()
    (home / ".devnet" / "devnet.json").write_text(
        json.dumps({"network": "regtest", "explorer": "http://127.0.0.1:9", "registry": "oR"})
    )
    dev = find_chain_source()
    assert (dev.origin, dev.explorer, dev.devnet) == (
        "devnet",
        "http://127.0.0.1:9",
        Path(".devnet"),
    )
    assert find_chain_source(profile="mine").origin == "profile mine"  # --profile wins
    with pytest.raises(e.BadFormat, match="no profile 'nope'"):
        find_chain_source(profile="nope")
    (home / "cfg" / "config.toml").write_text("[profiles.x]\nexplorr = 'typo'\n")
    with pytest.raises(e.BadFormat, match="explorr"):
        find_chain_source()


def test_output_formats_fit_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    docs = [{"a": "x" * 30, "payload": "p" * 200, "id": "0123456789abcdef"}]
    cols = [
        ("a", lambda d: d["a"]),
        ("id", lambda d: d["id"][:8]),
        ("payload", lambda d: d["payload"]),
    ]
    os.environ["COLUMNS"] = "80"
    Output("table").rows(docs, cols, wide="payload")
    table = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in table) and "01234567" in table[1]
    assert "ppp" in table[1] and "…" in table[1]  # cut, not dropped
    Output("ndjson").rows(docs * 2, cols)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == docs * 2
    Output("json").rows(docs, cols)
    assert json.loads(capsys.readouterr().out) == docs
    assert Output(None, kind="value").fmt == "table"  # `ID=$(flocloud send ...)` keeps working
    assert Output(None, kind="list").fmt == "ndjson"  # not a terminal under pytest


def test_devnet_commands_without_a_devnet(home: Path) -> None:
    runner = CliRunner()
    status = runner.invoke(cli, ["devnet", "status"])
    assert status.exit_code == 4 and "no devnet in .devnet" in status.output
    assert "Traceback" not in status.output
    down = runner.invoke(cli, ["devnet", "down"])
    assert down.exit_code == 0 and "nothing to stop" in down.output


def test_a_reused_pid_is_not_ours() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = pid_start_time(child.pid)
        assert started is not None and alive(child.pid, started)
        assert not alive(child.pid, started + 1)  # same pid, another process
    finally:
        child.kill()
        child.wait()
    assert not alive(child.pid, started)


def test_completion_script_is_printed() -> None:
    out = CliRunner().invoke(cli, ["completion", "bash"])
    assert out.exit_code == 0 and "_FLOCLOUD_COMPLETE" in out.output


def test_node_init_presets_and_systemd_unit(home: Path) -> None:
    import shutil

    out = CliRunner().invoke(
        cli,
        [
            "node",
            "init",
            "n",
            "--network",
            "mainnet",
            "--systemd",
            "--json",
            "--public-url",
            "sn.example.org",
        ],
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    toml = (home / "n" / "node.toml").read_text()
    assert PRESETS["mainnet"]["registry"] in toml and PRESETS["mainnet"]["explorer"][0] in toml
    assert "--explorer https://" in doc["publishCommand"]
    unit = Path(doc["systemdUnit"])
    assert "node run --config" in unit.read_text()
    if shutil.which("systemd-analyze"):
        check = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 0, check.stderr


def test_config_show_says_where_the_network_comes_from(home: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["config", "show", "--profile", "mainnet", "-o", "json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert (doc["origin"], doc["registry"]) == ("profile mainnet", PRESETS["mainnet"]["registry"])
    none = runner.invoke(cli, ["config", "show"])
    assert none.exit_code == 4 and "no network configured" in none.output
    listed = runner.invoke(cli, ["config", "profiles", "-o", "json"])
    assert {p["name"] for p in json.loads(listed.output)} == {"mainnet", "testnet"}
