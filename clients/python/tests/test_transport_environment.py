"""The one-import switch against a secured server: with the environment
variables ``pulse-log`` reads (PULSE_LEARNING_LOG_CA, _CERT, _KEY for mutual
TLS, _TOKEN_FILE for the bearer token), a trainer logs to a server with TLS
and tokens with no code change; explicit arguments still win; a wrong
setting fails at once, naming the variable."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path
from typing import Dict, List, Tuple

import grpc
from helpers import ServerProcess, TempDir, make_certificates, read_records
from test_multi_role_token import write_tokens_file

import pulse_learning_log
from pulse_learning_log import LearningLogClient, Unauthenticated, Unavailable

TOKEN = "trainer-token-0123456789abcdef"
VARIABLES = ("PULSE_LEARNING_LOG_ADDR", "PULSE_LEARNING_LOG_CA", "PULSE_LEARNING_LOG_CERT", "PULSE_LEARNING_LOG_KEY", "PULSE_LEARNING_LOG_TOKEN_FILE")

server: ServerProcess
tmp: TempDir
files: Dict[str, Path]


def setUpModule() -> None:
    global server, tmp, files
    tmp = TempDir()
    try:
        files = make_certificates(tmp.path)
        files["token"] = tmp.path / "token"
        files["token"].write_text(TOKEN + "\n")
        tokens = write_tokens_file(tmp.path / "tokens.json", [{"name": "trainer", "roles": ["writer", "reader"], "token": TOKEN}])
        flags = ["--tls-cert", str(files["server_cert"]), "--tls-key", str(files["server_key"]), "--tls-client-ca", str(files["ca"]), "--tokens-file", str(tokens)]
        server = ServerProcess(tmp.path / "pulse_learning_log.jsonl", flags=flags).start()
    except BaseException:
        tmp.remove()
        raise


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


def secured_environment() -> Dict[str, str]:
    return {
        "PULSE_LEARNING_LOG_ADDR": server.address,
        "PULSE_LEARNING_LOG_CA": str(files["ca"]),
        "PULSE_LEARNING_LOG_CERT": str(files["client_cert"]),
        "PULSE_LEARNING_LOG_KEY": str(files["client_key"]),
        "PULSE_LEARNING_LOG_TOKEN_FILE": str(files["token"]),
    }


class environment:
    """Sets the variables in this process for a with block, then restores them."""

    def __init__(self, **values: str):
        self.values = values

    def __enter__(self) -> None:
        self.saved = {k: os.environ.pop(k) for k in VARIABLES if k in os.environ}
        os.environ.update(self.values)

    def __exit__(self, *exc: object) -> None:
        for k in VARIABLES:
            os.environ.pop(k, None)
        os.environ.update(self.saved)


class TransportEnvironmentTest(unittest.TestCase):
    def tearDown(self) -> None:
        pulse_learning_log.configure()

    def test_a_trainer_logs_to_a_tls_and_token_server_with_no_code_change(self) -> None:
        trainer = """
            import asyncio, json
            import pulse_learning_log as log
            import pulse_learning_log.aio as aio
            ids = [log.log_variable_weight_change("hope", 0.1, 0.2).event_id]
            with log.BatchWriter() as writer:
                ids.append(writer.log_event("batched", {}))
            with log.LearningLogClient() as client:
                ids.append(client.log_event("unary", {}).event_id)
                ids.append(str(client.trust.get_trust("hope")))
            async def main():
                async with aio.LearningLogClient() as client:
                    return (await client.log_event("async", {})).event_id
            ids.append(asyncio.run(main()))
            print(json.dumps(ids))
        """
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_LEARNING_LOG_")}
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(trainer)], env={**clean, **secured_environment()}, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        ids = json.loads(done.stdout)
        event_ids = ids[:3] + ids[4:]
        written = {r["event_id"]: r["event_type"] for r in read_records(server.log_path)}
        self.assertEqual([written.get(e) for e in event_ids], ["variable_weight_update", "batched", "unary", "async"])

    def test_explicit_arguments_win_over_the_environment(self) -> None:
        with environment(**secured_environment()):
            with LearningLogClient(token="not-the-token-0123456789", retry_attempts=1) as client:
                with self.assertRaises(Unauthenticated):
                    client.log_event("refused", {})
            # Explicit TLS credentials trusting another CA: the server's certificate is refused.
            with LearningLogClient(credentials=grpc.ssl_channel_credentials(root_certificates=files["client_cert"].read_bytes()), timeout=5, retry_attempts=1) as client:
                with self.assertRaises((Unavailable, pulse_learning_log.DeadlineExceeded)):
                    client.log_event("refused", {})

    def test_without_the_environment_the_secured_server_is_out_of_reach(self) -> None:
        with environment(PULSE_LEARNING_LOG_ADDR=server.address):
            with LearningLogClient(timeout=5, retry_attempts=1) as client:
                with self.assertRaises((Unavailable, pulse_learning_log.DeadlineExceeded)):
                    client.log_event("plaintext", {})

    def test_wrong_settings_fail_at_once_naming_the_variable(self) -> None:
        empty = tmp.path / "empty-token"
        empty.write_text("\n")
        base = secured_environment()
        cases: List[Tuple[Dict[str, str], str]] = (
            [
                ({**base, "PULSE_LEARNING_LOG_KEY": ""}, "PULSE_LEARNING_LOG_CERT and PULSE_LEARNING_LOG_KEY go together"),
                ({**base, "PULSE_LEARNING_LOG_CA": ""}, "need PULSE_LEARNING_LOG_CA"),
                ({**base, "PULSE_LEARNING_LOG_CA": str(tmp.path / "missing.pem")}, "PULSE_LEARNING_LOG_CA=.*missing.pem: cannot read"),
                ({**base, "PULSE_LEARNING_LOG_TOKEN_FILE": str(tmp.path / "missing")}, "PULSE_LEARNING_LOG_TOKEN_FILE=.*: cannot read"),
                ({**base, "PULSE_LEARNING_LOG_TOKEN_FILE": str(empty)}, "PULSE_LEARNING_LOG_TOKEN_FILE=.*: the file is empty"),
            ]
        )
        for env, message in cases:
            with self.subTest(message=message), environment(**{k: v for k, v in env.items() if v}):
                with self.assertRaisesRegex(ValueError, message):
                    LearningLogClient()
                with self.assertRaisesRegex(ValueError, message):
                    pulse_learning_log.configure()


if __name__ == "__main__":
    unittest.main()
