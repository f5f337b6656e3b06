"""Object IDs and RFC 7386 merge patches: vectors and properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.keys import decode_address
from flocloud.protocol.objects import merge_diff, merge_patch, object_id
from flocloud.protocol.params import network_by_name
from strategies import json_values

V = json.loads((Path(__file__).parents[1] / "vectors" / "objects.json").read_text())


@pytest.mark.parametrize("v", V["object_ids"], ids=lambda v: f"{v['name']}-{v['network']}")
def test_object_ids(v: dict[str, str]) -> None:
    """Object IDs are frozen and are valid P2PKH-form IDs of their network."""
    net = network_by_name(v["network"])
    assert object_id(v["application"], v["name"], net) == v["id"]
    assert decode_address(v["id"], net).kind == "p2pkh"


@pytest.mark.parametrize("v", V["merge_patch"], ids=lambda v: json.dumps(v["patch"])[:30])
def test_rfc7386_appendix_a(v: dict[str, Any]) -> None:
    """Every example of RFC 7386 Appendix A, without mutating the inputs."""
    target = json.loads(json.dumps(v["target"]))
    assert merge_patch(target, v["patch"]) == v["result"]
    assert target == v["target"]


@pytest.mark.parametrize("v", V["merge_diff"], ids=lambda v: json.dumps(v["to"])[:30])
def test_diff_vectors(v: dict[str, Any]) -> None:
    """merge_diff vectors, including the inexpressible case (None)."""
    assert merge_diff(v["from"], v["to"]) == v["patch"]


@given(json_values(), json_values())
def test_diff_then_patch(a: Any, b: Any) -> None:
    """When a diff exists, applying it to a gives b."""
    patch = merge_diff(a, b)
    if patch is not None:
        assert merge_patch(a, patch) == b


def test_bad_object_names() -> None:
    """Empty names and NUL in applications are refused."""
    net = network_by_name("mainnet")
    with pytest.raises(BadFormat):
        object_id("app", "", net)
    with pytest.raises(BadFormat):
        object_id("a\x00b", "x", net)
