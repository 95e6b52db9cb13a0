"""The package is typed: it ships ``py.typed`` and ``mypy --strict`` (the
settings in pyproject.toml) finds nothing. Needs mypy for this interpreter
(Debian: python3-mypy)."""

from __future__ import annotations

import subprocess
import sys
import unittest
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[1]


class TypingTest(unittest.TestCase):
    def test_the_package_ships_py_typed(self) -> None:
        self.assertTrue((CLIENT / "pulse_learning_log" / "py.typed").is_file())

    def test_mypy_strict_is_clean(self) -> None:
        probe = subprocess.run([sys.executable, "-c", "import mypy"], capture_output=True, text=True)
        self.assertEqual(probe.returncode, 0, f"mypy is not installed for {sys.executable} (Debian: apt-get install python3-mypy): {probe.stderr.strip()}")
        done = subprocess.run([sys.executable, "-m", "mypy"], cwd=CLIENT, capture_output=True, text=True, timeout=600)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("Success: no issues found", done.stdout)


if __name__ == "__main__":
    unittest.main()
