"""The wheel, as an operator installs it: build it, install it in a fresh venv, generate a
config with `node init`, start the node from the venv's `flocloud`, and ask it who it is."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from flocloud.devnet.network import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_runs_a_node(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("flocloud-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # the dependencies come from this environment (no index needed); flocloud from the wheel
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(py), "-c", "import flocloud, flocloud.web; print(flocloud.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(str(venv)), where  # not the source tree

    exe = venv / "bin" / "flocloud"
    port = free_port()
    init = subprocess.run(
        [str(exe), "node", "init", str(tmp_path / "node"), "--port", str(port), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    node_id = json.loads(init.stdout)["floID"]
    log = open(tmp_path / "node.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(exe), "node", "run", "--config", str(tmp_path / "node" / "node.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.time() + 30
        doc = None
        while time.time() < deadline and doc is None:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/", headers={"Accept": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=2) as resp:
                    doc = json.loads(resp.read())
            except OSError:
                assert proc.poll() is None, (tmp_path / "node.log").read_text()
                time.sleep(0.2)
        assert doc is not None and doc["node_id"] == node_id
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
            assert b"<html" in resp.read().lower()  # the dashboard is in the wheel
        # a second node on the same data directory is refused with one line
        second = subprocess.run(
            [
                str(exe),
                "node",
                "run",
                "--config",
                str(tmp_path / "node" / "node.toml"),
                "--port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert second.returncode == 7 and "is in use by another supernode" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        log.close()
