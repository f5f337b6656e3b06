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
    path.write_text("port = \n")
    with pytest.raises(BadFormat, match="not valid TOML"):
        load_config(path)
    with pytest.raises(BadFormat, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(BadFormat, match="no node key"):
        load_config(None, key_file=str(tmp_path / "none.key")).key()
