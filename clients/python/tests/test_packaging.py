"""A pip-installed client equals the source one: installed offline into a
fresh virtual environment (grpcio and protobuf from the system's site
packages, no index, no build isolation), it logs to the real server, reads
the field violations of a refused call (google.rpc ships with it), carries
the generated modules under its own name, and leaves ``import pulse`` to
Pulse's own package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

from helpers import ServerProcess, TempDir, read_records, start_server_in_temp_dir

HERE = Path(__file__).resolve().parent
CLIENT_DIR = HERE.parent
REPO_ROOT = CLIENT_DIR.parent.parent

# What the installed client is asked to do, in the virtual environment's
# interpreter, with nothing of this repository on its path. It prints one
# JSON object of what it saw.
_CHECK = """
    import json, sys
    import pulse_learning_log
    from pulse_learning_log import InvalidArgument, LearningLogClient
    from pulse_learning_log._gen.pulse.learninglog.v1 import learning_log_pb2
    from pulse_learning_log._gen.google.rpc import status_pb2
    seen = {
        "client": pulse_learning_log.__file__,
        "stubs": learning_log_pb2.__file__,
        "status": status_pb2.__file__,
    }
    with LearningLogClient(sys.argv[1]) as client:
        seen["event_id"] = client.log_event("installed", {"ok": True}).event_id
        try:
            client.log_event("line\\nbreak", {"a": 1})
        except InvalidArgument as err:
            seen["violations"] = [list(v) for v in err.field_violations]
    seen["top_level"] = sorted(m for m in sys.modules if m == "pulse" or m.startswith(("pulse.", "google.rpc")))
    try:
        import pulse  # Pulse's own package, when there is one on the path
        seen["pulse"] = getattr(pulse, "OWNER", pulse.__file__)
    except ModuleNotFoundError as err:
        seen["pulse"] = str(err)
    print(json.dumps(seen))
"""


class PackagingTest(unittest.TestCase):
    tmp: TempDir
    server: ServerProcess
    venv_python: Path
    site: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp, cls.server = start_server_in_temp_dir()
        # Build from a copy (pip builds in place and leaves build/ behind),
        # keeping the layout and links the package refers to: clients/python
        # links its generated modules to gen/python.
        ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tests", ".mypy_cache")
        shutil.copytree(CLIENT_DIR, cls.tmp.path / "clients" / "python", ignore=ignore, symlinks=True)
        shutil.copytree(REPO_ROOT / "gen" / "python", cls.tmp.path / "gen" / "python", ignore=ignore)
        venv = cls.tmp.path / "venv"
        env = cls.clean_env()
        # pip, setuptools, grpcio and protobuf from the system (Debian: python3-pip,
        # python3-setuptools): no ensurepip (python3-venv) needed, nothing downloaded.
        cls.run_checked([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], env)
        cls.venv_python = venv / "bin" / "python"
        cls.run_checked(
            [str(cls.venv_python), "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", str(cls.tmp.path / "clients" / "python")],
            env,
        )
        found = subprocess.run(
            [str(cls.venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        cls.site = Path(found.stdout.strip())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        cls.tmp.remove()

    @staticmethod
    def clean_env() -> dict:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PULSE_LEARNING_LOG_")}
        env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        return env

    @staticmethod
    def run_checked(command: list, env: dict) -> None:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")

    def check(self, pythonpath: "str | None" = None) -> dict:
        env = self.clean_env()
        if pythonpath is not None:
            env["PYTHONPATH"] = pythonpath
        work = self.tmp.path / "elsewhere"  # not the repository: nothing of it on the path
        work.mkdir(exist_ok=True)
        done = subprocess.run(
            [str(self.venv_python), "-c", textwrap.dedent(_CHECK), self.server.address], env=env, cwd=work, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout.splitlines()[-1])

    def test_the_installed_client_logs_and_reads_field_violations_beside_pulses_own_package(self) -> None:
        # Pulse's own top-level package, as a Pulse process would have it.
        theirs = self.tmp.path / "pulse_app"
        (theirs / "pulse").mkdir(parents=True, exist_ok=True)
        (theirs / "pulse" / "__init__.py").write_text('OWNER = "pulse itself"\n', encoding="utf-8")
        seen = self.check(pythonpath=str(theirs))
        for key in ("client", "stubs", "status"):
            self.assertTrue(seen[key].startswith(str(self.site)), f"{key}: {seen[key]}")
        self.assertIn(os.sep + os.path.join("pulse_learning_log", "_gen", "pulse") + os.sep, seen["stubs"])
        self.assertEqual(seen["violations"], [["event_type", seen["violations"][0][1]]], "google.rpc ships with the client")
        self.assertEqual(seen["pulse"], "pulse itself")
        self.assertEqual(seen["top_level"], [], "the client imports no top-level pulse or google.rpc")
        record = next(r for r in read_records(self.server.log_path) if r["event_id"] == seen["event_id"])
        self.assertEqual((record["event_type"], record["data"]), ("installed", {"ok": True}))

    def test_the_install_puts_nothing_at_the_top_level_but_the_client(self) -> None:
        self.assertFalse((self.site / "pulse").exists(), "no top-level pulse package")
        self.assertFalse((self.site / "google" / "rpc").exists(), "no top-level google.rpc")
        self.assertTrue((self.site / "pulse_learning_log" / "py.typed").is_file())
        self.assertTrue((self.site / "pulse_learning_log" / "_gen" / "pulse" / "learninglog" / "v1" / "learning_log_pb2.pyi").is_file())
        self.assertFalse((self.site / "pulse_learning_log" / "_gen" / "pulse").is_symlink(), "files copied, not links")
        seen = self.check()  # no Pulse package on the path
        self.assertEqual(seen["pulse"], "No module named 'pulse'")
        self.assertEqual(len(seen["violations"]), 1)

    def test_the_installed_modules_are_the_generated_files_unchanged(self) -> None:
        pairs = [
            ("pulse/learninglog/v1/learning_log_pb2.py", "pulse/learninglog/v1/learning_log_pb2.py"),
            ("pulse/trust/v1/trust_pb2.py", "pulse/trust/v1/trust_pb2.py"),
            ("google/rpc/status_pb2.py", "google/rpc/status_pb2.py"),
            ("google/rpc/error_details_pb2.pyi", "google/rpc/error_details_pb2.pyi"),
        ]
        for installed, generated in pairs:
            with self.subTest(installed):
                self.assertEqual(
                    (self.site / "pulse_learning_log" / "_gen" / installed).read_bytes(),
                    (REPO_ROOT / "gen" / "python" / generated).read_bytes(),
                )


if __name__ == "__main__":
    unittest.main()
