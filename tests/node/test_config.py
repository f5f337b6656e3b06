"""Node configuration: the example file documents every setting with its real default."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from flocloud.node.config import (
    ChainConfig,
    LegacyConfig,
    Limits,
    NodeConfig,
    ReplicationConfig,
    load_config,
)
from flocloud.protocol.errors import BadFormat

EXAMPLE = Path(__file__).parents[2] / "config.example.toml"


def test_example_matches_defaults() -> None:
    """Loading config.example.toml gives exactly the built-in defaults, and names every setting."""
    cfg = load_config(EXAMPLE)
    defaults = NodeConfig()
    for f in fields(NodeConfig):
        if f.name not in ("base_dir", "apps"):
            assert getattr(cfg, f.name) == getattr(defaults, f.name), f.name
    raw = tomllib.loads(EXAMPLE.read_text())
    assert set(raw["limits"]) == {f.name for f in fields(Limits)}
    assert set(raw["chain"]) == {f.name for f in fields(ChainConfig)}
    assert set(raw["replication"]) == {f.name for f in fields(ReplicationConfig)}
    assert set(raw["legacy"]) == {f.name for f in fields(LegacyConfig)}


def test_overrides_and_errors(tmp_path: Path) -> None:
    """Flags override the file; unknown keys and bad TOML are clear errors."""
    path = tmp_path / "n.toml"
    path.write_text('port = 1\n[limits]\nmax_depth = 4\n[apps.demo]\nadmin = "x"\n')
    cfg = load_config(path, port=9, host=None)
    assert (cfg.port, cfg.limits.max_depth, cfg.apps["demo"].admin) == (9, 4, "x")
    path.write_text("prot = 1\n")
    with pytest.raises(BadFormat, match="unknown setting"):
        load_config(path)
    path.write_text('[storage]\nsynchronous = "FULL"\ninline_writes = 0\ncommit_linger_ms = 0\n')
    cfg = load_config(path)
    assert (cfg.synchronous, cfg.inline_writes, cfg.commit_linger_ms) == ("FULL", 0, 0)
    assert load_config(None).commit_linger_ms == 2.0
    for linger in ("-1", "51"):
        path.write_text(f"[storage]\ncommit_linger_ms = {linger}\n")
        with pytest.raises(BadFormat, match="commit_linger_ms in \\[storage\\] must be 0 to 50"):
            load_config(path)
    path.write_text("gc_young = 5000\n")
    assert load_config(path).gc_young == 5000 and load_config(None).gc_young == 100_000
    for young in ("699", "10000001"):
        path.write_text(f"gc_young = {young}\n")
        with pytest.raises(BadFormat, match="gc_young in the config file must be 700 to"):
            load_config(path)
    for bad, message in [
        ('gc_young = "many"', "gc_young in the config file must be int"),
        ('port = "7400"', "port in the config file must be int, not '7400'"),
        ("verify_inline_max = 2.5", "verify_inline_max in the config file must be int"),
        ("[limits]\nrate_per_id = true", "rate_per_id in \\[limits\\] must be float"),
        ('[chain]\nexplorer = ["x"]', "explorer in \\[chain\\] must be str"),
    ]:
        path.write_text(bad + "\n")
        with pytest.raises(BadFormat, match=message):
            load_config(path)
    path.write_text("port = 7401.0\n[limits]\nbytes_per_source = 1e6\n")  # whole: ints
    cfg = load_config(path)
    assert (cfg.port, cfg.limits.bytes_per_source) == (7401, 1_000_000)
    assert type(cfg.port) is int
    path.write_text("[limits]\nbytes_per_source = 1500.5\n")  # a rate, whatever its default
    assert load_config(path).limits.bytes_per_source == 1500.5
    for table in ("storage", "limits", "log"):
        path.write_text(f"{table} = 1\n")
        with pytest.raises(BadFormat, match=f"{table} in the config file must be a table"):
            load_config(path)
    path.write_text("[apps]\ndemo = 5\n")  # an application is a table too
    with pytest.raises(BadFormat, match="demo in the config file must be a table"):
        load_config(path)
    path.write_text("[storage]\ninline_write = 0\n")
    with pytest.raises(BadFormat, match=r"unknown setting\(s\) in \[storage\]: inline_write"):
        load_config(path)
    path.write_text("port = \n")
    with pytest.raises(BadFormat, match="not valid TOML"):
        load_config(path)
    with pytest.raises(BadFormat, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(BadFormat, match="no node key"):
        load_config(None, key_file=str(tmp_path / "none.key")).key()


def test_node_key_never_from_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node key comes from FLOCLOUD_NODE_WIF or key_file; ``node run`` takes no --wif
    (arguments show in ``ps``); ``node init --force`` leaves a 0600 key over a 0644 one."""
    import os
    import stat

    from click.testing import CliRunner

    from flocloud.cli.main import cli
    from flocloud.node.config import KEY_ENV
    from flocloud.protocol.keys import PrivateKey
    from flocloud.protocol.params import REGTEST

    runner = CliRunner()
    d = tmp_path / "n"
    assert runner.invoke(cli, ["node", "init", str(d)]).exit_code == 0
    key_path = d / "node.key"
    os.chmod(key_path, 0o644)
    first = key_path.read_text()
    assert runner.invoke(cli, ["node", "init", str(d), "--force"]).exit_code == 0
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and key_path.read_text() != first
    assert not list(d.glob("*.tmp"))
    result = runner.invoke(cli, ["node", "run", "--wif", "x", "--config", str(d / "node.toml")])
    assert result.exit_code != 0 and "No such option" in result.output
    # the environment wins over the file
    other = PrivateKey(b"\x07" * 32, REGTEST)
    monkeypatch.setenv(KEY_ENV, other.to_wif())
    assert load_config(d / "node.toml").key().address == other.address
    monkeypatch.delenv(KEY_ENV)
    assert load_config(d / "node.toml").key().to_wif() == key_path.read_text().strip()
