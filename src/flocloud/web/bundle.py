"""The committed browser bundle ``static/flocloud.js`` and the sources it was built from.

Invariant: the bundle's header records the SHA-256 of its sources (``js/*.js``, the
declarations ``flocloud.d.ts`` and their check ``types-check.ts`` (tsc runs at build time),
``package.json``, ``package-lock.json`` and the build script ``scripts/build-web``) and of
its own body, so a test can check without npm that the committed bundle is exactly what
``scripts/build-web`` makes from the committed sources. Runs as a script too (the build
script calls it), so it imports nothing from flocloud.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

__all__ = [
    "HEADER_LINES",
    "bundle_digest",
    "header",
    "read_header",
    "source_files",
    "sources_digest",
]

WEB = Path(__file__).resolve().parent
HEADER_LINES = 3


def source_files(web: Path = WEB, build_script: Path | None = None) -> list[Path]:
    """The files the bundle is built from, in a fixed order."""
    script = build_script or web.parents[2] / "scripts" / "build-web"
    js = sorted((web / "js").rglob("*.js"))
    extra = [
        web / n for n in ("flocloud.d.ts", "types-check.ts", "package.json", "package-lock.json")
    ]
    return [*js, *extra, script]


def sources_digest(web: Path = WEB, build_script: Path | None = None) -> str:
    """SHA-256 over each source's name and bytes (length-prefixed, so no two sets collide)."""
    h = hashlib.sha256()
    for path in source_files(web, build_script):
        name = path.name if path.name == "build-web" else path.relative_to(web).as_posix()
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def bundle_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def header(sources: str, body: bytes) -> str:
    return (
        "// flocloud.js: the flocloud browser client, built by scripts/build-web from "
        "src/flocloud/web/js (do not edit)\n"
        f"// sources-sha256: {sources}\n"
        f"// bundle-sha256: {bundle_digest(body)}\n"
    )


def read_header(bundle: bytes) -> tuple[dict[str, str], bytes]:
    """The recorded digests and the body after the header."""
    lines = bundle.split(b"\n", HEADER_LINES)
    fields = {}
    for line in lines[:HEADER_LINES]:
        text = line.decode("utf-8", "replace")
        if ": " in text and text.startswith("// ") and "-sha256" in text:
            name, value = text[3:].split(": ", 1)
            fields[name] = value.strip()
    return fields, lines[HEADER_LINES] if len(lines) > HEADER_LINES else b""


if __name__ == "__main__":  # build-web: <bundle body path> <output path>
    body_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    body = body_path.read_bytes()
    out_path.write_bytes(header(sources_digest(), body).encode() + body)
