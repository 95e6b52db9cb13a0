"""The package installs with pip offline (no build isolation, no index, no
dependencies fetched) and the installed copy, generated stubs included,
works without the source folders on the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

from fake_server import FakeServer
from helpers import TempDir

HERE = Path(__file__).resolve().parent
CLIENT_DIR = HERE.parent
REPO_ROOT = CLIENT_DIR.parent.parent


class PackagingTest(unittest.TestCase):
    def test_offline_pip_install_works_on_its_own(self) -> None:
        tmp = TempDir()
        fake = FakeServer()
        try:
            # Build from a copy (pip builds in place and leaves build/ behind),
            # keeping the layout the pyproject refers to: clients/python and gen/python.
            ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tests")
            shutil.copytree(CLIENT_DIR, tmp.path / "clients" / "python", ignore=ignore)
            shutil.copytree(REPO_ROOT / "gen" / "python", tmp.path / "gen" / "python", ignore=ignore)
            site = tmp.path / "site"
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
            install = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "--target", str(site), str(tmp.path / "clients" / "python")],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            self.assertEqual(install.returncode, 0, install.stdout + install.stderr)

            script = textwrap.dedent(
                f"""
                import pulse_learning_log
                from pulse.learninglog.v1 import learning_log_pb2
                print(pulse_learning_log.__file__)
                print(learning_log_pb2.__file__)
                print(pulse_learning_log.LearningLogClient({fake.address!r}).log_event("installed", {{"ok": True}}).seq)
                """
            )
            run = subprocess.run([sys.executable, "-c", script], env={**env, "PYTHONPATH": str(site)}, cwd=tmp.path, capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            module_file, stubs_file, seq = run.stdout.splitlines()
            self.assertTrue(module_file.startswith(str(site)), module_file)
            self.assertTrue(stubs_file.startswith(str(site)), stubs_file)
            self.assertEqual(seq, "1")
            self.assertEqual([m for m, _ in fake.calls], ["LogEvent"])
        finally:
            fake.stop()
            tmp.remove()


if __name__ == "__main__":
    unittest.main()
