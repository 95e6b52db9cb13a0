#!/usr/bin/env python3
"""Runs the Python client's tests (stdlib unittest) against the real server.

    PYTHON=/usr/bin/python3 python3 clients/python/run_tests.py [-k PATTERN] [test_module ...]

The interpreter is the one named by the ``PYTHON`` environment variable,
default ``/usr/bin/python3`` (Debian's, which has grpcio and protobuf): when
this script is started by another interpreter it re-executes itself with that
one. Child Python processes of the tests use ``sys.executable``.

The last line printed is exactly ``N passed, M failed``; the exit status is 0
only when nothing failed.
"""

from __future__ import annotations

import os
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
_REEXEC_MARK = "PULSE_LEARNING_LOG_TESTS_REEXEC"


def _use_chosen_interpreter() -> None:
    chosen = os.environ.get("PYTHON") or "/usr/bin/python3"
    if os.environ.get(_REEXEC_MARK) or not os.path.exists(chosen):
        return
    if os.path.realpath(chosen) != os.path.realpath(sys.executable):
        os.environ[_REEXEC_MARK] = "1"
        os.execv(chosen, [chosen, str(Path(__file__).resolve()), *sys.argv[1:]])


class _CountingResult(unittest.TextTestResult):
    """Counts the tests that passed (testsRun also counts failures and skips)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main(argv: list) -> int:
    _use_chosen_interpreter()
    paths = [str(ROOT / "gen" / "python"), str(HERE), str(HERE / "tests")]
    sys.path[:0] = paths
    # Children (the packaging test) see the same modules.
    # Tests give up events on purpose (silent fake servers, closed ports):
    # the suite's exit status is its tests', not the client's loss status.
    # Tests of that status set the variable themselves.
    os.environ.setdefault("PULSE_LEARNING_LOG_EXIT_ON_LOSS", "0")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths[:2] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    try:
        import grpc  # noqa: F401
        import google.protobuf  # noqa: F401
    except ImportError as err:
        print(f"{sys.executable} cannot import grpc/protobuf ({err}); set PYTHON to an interpreter that can (e.g. /usr/bin/python3)")
        print("0 passed, 1 failed")
        return 1

    pattern = None
    modules = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-k" and args:
            pattern = args.pop(0)
        else:
            modules.append(arg)
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = [f"*{pattern}*"]
    if modules:
        suite = loader.loadTestsFromNames([Path(m).stem for m in modules])
    else:
        suite = loader.discover(str(HERE / "tests"), pattern="test_*.py", top_level_dir=str(HERE / "tests"))

    started = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=_CountingResult).run(suite)
    # A failing setUpModule/setUpClass is one error (its tests do not run): one failure.
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.passed
    print(f"python client suite took {time.monotonic() - started:.1f} s with {sys.executable}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
