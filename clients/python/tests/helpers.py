"""Test fixtures: the real server as a child process, the log it writes, and
the records the original module would have written."""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: The repository root, where the server is started (``node dist/src/main.js``).
#: PULSE_LEARNING_LOG_SERVER_ROOT overrides it (to test against another checkout).
REPO_ROOT = Path(os.environ.get("PULSE_LEARNING_LOG_SERVER_ROOT") or Path(__file__).resolve().parents[3])

#: The record's timestamp format: Python's datetime.isoformat() in UTC.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# A server under a loaded CI machine can take a while to compile and bind.
START_TIMEOUT_S = 60.0

_server_entry: Optional[List[str]] = None


def server_entry() -> List[str]:
    """How node runs the server: the built ``dist/src/main.js`` (``npm test``
    builds it first; it starts in a fraction of tsx's time), or
    ``--import tsx src/main.ts`` when dist/ is missing or older than a
    TypeScript source under src/ or gen/ts/ (the same check as
    bin/built-code.js). Decided once per test run."""
    global _server_entry
    if _server_entry is None:
        _server_entry = ["dist/src/main.js"] if _built_code_is_fresh(REPO_ROOT) else ["--import", "tsx", "src/main.ts"]
    return _server_entry


def _built_code_is_fresh(root: Path) -> bool:
    try:
        (root / "dist" / "src" / "main.js").stat()
        built_at = (root / "dist" / "tsconfig.build.tsbuildinfo").stat().st_mtime
    except OSError:
        return False
    for sources in (root / "src", root / "gen" / "ts"):
        for path in sources.rglob("*.ts"):
            if path.stat().st_mtime > built_at:
                return False
    return True


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempDir:
    """A temporary folder removed by :meth:`remove`."""

    def __init__(self, prefix: str = "pulse-py-test-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class ServerProcess:
    """The real server (``node dist/src/main.js``, see :func:`server_entry`) on a loopback port
    over a log file, started, killed and restarted like an operator would."""

    def __init__(self, log_path: Path, port: Optional[int] = None, flags: Sequence[str] = ()):
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.flags = list(flags)
        self.process: Optional[subprocess.Popen] = None
        self.output: List[str] = []
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def trust_dir(self) -> Path:
        """The server's default trust directory: ``trust`` beside the log."""
        return self.log_path.parent / "trust"

    def start(self) -> "ServerProcess":
        """Starts the server and returns once it logged "listening"."""
        command = [
            "node", *server_entry(),
            "--addr", self.address,
            "--log-path", str(self.log_path),
            "--log-level", "info",
            *self.flags,
        ]  # fmt: skip
        self._lines = queue.Queue()
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        threading.Thread(target=self._drain, args=(self.process, self._lines), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise RuntimeError(f"server did not log 'listening' within {START_TIMEOUT_S} s:\n" + "\n".join(self.output[-20:]))
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait()
                raise RuntimeError(f"server exited with {code} before listening:\n" + "\n".join(self.output[-20:]))
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("msg") == "listening":
                return self

    def _drain(self, process: subprocess.Popen, lines: "queue.Queue[Optional[str]]") -> None:
        # Reads the server's output to the end so its pipe never fills.
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def kill(self) -> None:
        """kill -9, and wait for the process to be gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self._wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful shutdown); returns the exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self._wait(timeout)

    def _wait(self, timeout: float = 30.0) -> int:
        if self.process is None:
            return 0
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            code = self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def stop(self) -> None:
        """Graceful stop when running (teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.terminate()


def start_server_in_temp_dir() -> "Tuple[TempDir, ServerProcess]":
    """A fresh temp dir with a started server logging into it; nothing is left behind if the start fails."""
    tmp = TempDir()
    try:
        return tmp, ServerProcess(tmp.path / "pulse_learning_log.jsonl").start()
    except BaseException:
        tmp.remove()
        raise


def make_certificates(directory: Path) -> Dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and localhost and a client
    certificate, both signed by the CA, made in ``directory`` with openssl
    (as test/helpers/certificates.ts does). Returns the PEM files by name:
    ca, server_cert, server_key, client_cert, client_key."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Pulse Test CA", "-keyout", "ca.key", "-out", "ca.pem")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.pem")
    names = {"ca": "ca.pem", "server_cert": "server.pem", "server_key": "server.key", "client_cert": "client.pem", "client_key": "client.key"}
    return {k: directory / v for k, v in names.items()}


def read_lines(log_path: Path) -> List[str]:
    """The log's lines, split on \\n only (as the contract defines a record)."""
    if not Path(log_path).exists():
        return []
    data = Path(log_path).read_bytes().decode("utf-8")
    assert data == "" or data.endswith("\n"), "the log must end with a newline"
    return data[:-1].split("\n") if data else []


def read_records(log_path: Path) -> List[Dict[str, Any]]:
    """Every record of the log, parsed."""
    return [json.loads(line) for line in read_lines(log_path)]


def records_by_id(log_path: Path) -> Dict[str, Dict[str, Any]]:
    return {r["event_id"]: r for r in read_records(log_path)}


# -- the original module's records, transcribed from core/pulse_learning_log.py --


class ReferenceTracker:
    """The original BayesianTrustTracker's formulas (analytics/bayesian_trust_tracker.py),
    to compute what a key's metrics must be after known updates."""

    def __init__(self) -> None:
        self.stats: Dict[str, List[float]] = {}

    def update(self, key: str, success: bool, weight: float = 1.0) -> None:
        alpha, beta = self.stats.get(key, [1.0, 1.0])
        if success:
            alpha += weight
        else:
            beta += weight
        self.stats[key] = [alpha, beta]

    def get_trust(self, key: str) -> float:
        alpha, beta = self.stats.get(key, (1, 1))
        return alpha / (alpha + beta)

    def get_confidence_interval(self, key: str, z: float = 1.96):
        alpha, beta = self.stats.get(key, (1, 1))
        n = alpha + beta
        p = alpha / n
        se = (p * (1 - p) / n) ** 0.5
        return max(0, p - z * se), min(1, p + z * se)

    def get_confidence_strength(self, key: str) -> float:
        alpha, beta = self.stats.get(key, (1, 1))
        n = alpha + beta - 2
        return 1 / (1 + math.exp(-0.1 * (n - 10)))

    def get_sample_size(self, key: str) -> int:
        alpha, beta = self.stats.get(key, (1, 1))
        return int(alpha + beta - 2)

    def apply_decay(self, key: str, decay_factor: float, min_count: float) -> None:
        if key in self.stats:
            alpha, beta = self.stats[key]
            if alpha + beta > min_count:
                self.stats[key] = [max(1, alpha * decay_factor), max(1, beta * decay_factor)]


def original_record(method: str, *args: Any, tracker: Optional[ReferenceTracker] = None) -> Dict[str, Any]:
    """event_type, data (and context) exactly as the original module's method built them."""
    if method == "log_event":
        event_type, data, context = (list(args) + [None])[:3]
        record = {"event_type": event_type, "data": data}
        if context:
            record["context"] = context
        return record
    if method == "log_variable_weight_change":
        var, old, new = args
        return {"event_type": "variable_weight_update", "data": {"variable": var, "from": float(old), "to": float(new)}}
    if method == "log_symbolic_upgrade":
        return {"event_type": "symbolic_upgrade_applied", "data": {"changes": args[0]}}
    if method == "log_revision_trigger":
        return {"event_type": "symbolic_revision_triggered", "data": {"reason": args[0]}}
    if method == "log_arc_regret":
        return {"event_type": "symbolic_arc_regret", "data": {"regret_scores": args[0]}}
    if method == "log_learning_summary":
        return {"event_type": "meta_learning_summary", "data": args[0]}
    if method == "log_rule_activation":
        rule_id, variable_id, outcome, forecast_id, success = (list(args) + [None, None])[:5]
        return {
            "event_type": "rule_activation",
            "data": {"rule_id": rule_id, "variable_id": variable_id, "outcome": outcome, "forecast_id": forecast_id, "success": success},
        }
    if method == "log_bayesian_trust_metrics":
        key, kind = (list(args) + ["variable"])[:2]
        t = tracker or ReferenceTracker()
        return {
            "event_type": "bayesian_trust_metrics",
            "data": {
                "key": key,
                "kind": kind,
                "trust": t.get_trust(key),
                "confidence_interval": list(t.get_confidence_interval(key)),
                "confidence_strength": t.get_confidence_strength(key),
                "sample_size": t.get_sample_size(key),
            },
        }
    if method == "log_rule_effectiveness":
        rule_id, count, rate, impact = args
        # The original also wrote the call's time as data.timestamp; checked apart.
        return {
            "event_type": "rule_effectiveness",
            "data": {"rule_id": rule_id, "activation_count": count, "success_rate": rate, "impact_score": impact},
        }
    raise KeyError(method)


def assert_close(test: Any, actual: Any, expected: Any, path: str = "data") -> None:
    """Field-by-field equality, floats to 1e-12 (the server computes in JavaScript)."""
    if isinstance(expected, float) or (isinstance(actual, float) and isinstance(expected, (int, float)) and not isinstance(expected, bool)):
        test.assertIsInstance(actual, (int, float), path)
        test.assertNotIsInstance(actual, bool, path)
        test.assertTrue(math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12), f"{path}: {actual!r} != {expected!r}")
    elif isinstance(expected, dict):
        test.assertIsInstance(actual, dict, path)
        test.assertEqual(sorted(actual), sorted(expected), f"{path}: keys differ")
        for k in expected:
            assert_close(test, actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, (list, tuple)):
        test.assertIsInstance(actual, list, path)
        test.assertEqual(len(actual), len(expected), f"{path}: lengths differ")
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(test, a, e, f"{path}[{i}]")
    else:
        test.assertEqual(actual, expected, path)
        test.assertIs(type(actual), type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}")
