"""Test configuration shared by the whole suite."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/strategies.py and friends are importable as plain modules
sys.path.insert(0, str(Path(__file__).parent))
