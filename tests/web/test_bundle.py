"""The committed bundle static/flocloud.js is what scripts/build-web makes from the
committed sources, checked without npm: its header records the digest of the sources
(js/*.js, flocloud.d.ts and its type check, package.json, package-lock.json, the build
script) and of its own body."""

from __future__ import annotations

import json
from pathlib import Path

from flocloud.web.bundle import bundle_digest, read_header, source_files, sources_digest

WEB = Path(__file__).parents[2] / "src" / "flocloud" / "web"


def test_committed_bundle_matches_its_sources() -> None:
    fields, body = read_header((WEB / "static" / "flocloud.js").read_bytes())
    assert fields["sources-sha256"] == sources_digest(), (
        "src/flocloud/web/js or its lockfile changed: run scripts/build-web and commit the bundle"
    )
    assert fields["bundle-sha256"] == bundle_digest(body), "static/flocloud.js was edited by hand"


def test_digest_covers_every_source_and_the_lock() -> None:
    names = {p.name for p in source_files()}
    assert {"index.js", "client.js", "package.json", "package-lock.json", "build-web"} <= names
    lock = json.loads((WEB / "package-lock.json").read_text())
    deps = lock["packages"][""]["dependencies"]
    assert set(deps) == {"@noble/curves", "@noble/hashes", "@scure/base"}


def test_digest_changes_with_a_source(tmp_path: Path) -> None:
    """A one-byte change in any source changes the recorded digest (the check can fail)."""
    copy = tmp_path / "web"
    (copy / "js").mkdir(parents=True)
    for p in source_files():
        if p.name == "build-web":
            continue
        target = copy / p.relative_to(WEB)
        target.write_bytes(p.read_bytes())
    script = Path(__file__).parents[2] / "scripts" / "build-web"
    before = sources_digest(copy, script)
    assert before == sources_digest()
    (copy / "js" / "placement.js").write_bytes((copy / "js" / "placement.js").read_bytes() + b" ")
    assert sources_digest(copy, script) != before
