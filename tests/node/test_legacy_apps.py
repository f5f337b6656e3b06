"""The roles an app's admin publishes from its own address (reference §1)."""

from __future__ import annotations

import json

from flocloud.node.legacy.apps import AppRoles, apply_app_update


def test_removals_before_additions_and_noise_ignored() -> None:
    roles = AppRoles()
    for flo in (
        {"demo": {"addSubAdmin": ["s1", "s2"], "addTrustedID": ["t1"], "settings": {"x": 1}}},
        {"other": {"addSubAdmin": ["o1"]}},
        {
            "demo": {
                "removeSubAdmin": ["s1"],
                "addSubAdmin": ["s1", "s3"],
                "removeTrustedID": ["t1"],
            }
        },
    ):
        roles = apply_app_update(roles, "demo", json.dumps(flo))
    for noise in ("not json", "[1]", '{"demo": 5}'):
        roles = apply_app_update(roles, "demo", noise)
    assert roles == AppRoles(("s2", "s1", "s3"), (), {"x": 1})
