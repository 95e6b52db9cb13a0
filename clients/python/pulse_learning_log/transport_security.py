"""TLS and the bearer token from the environment, as ``pulse-log`` reads them.

A trainer switched to this client by one import needs no code change to log
to a server with TLS and tokens: the variables an operator sets for
``pulse-log`` serve the client too. Arguments given to a client still win
(a ``token`` over the token file, ``credentials`` over the three files).

- ``PULSE_LEARNING_LOG_TOKEN_FILE``: a file holding the bearer token
  (surrounding whitespace is dropped; an empty file is an error).
- ``PULSE_LEARNING_LOG_CA``: TLS, trusting this CA (PEM) for the server's certificate.
- ``PULSE_LEARNING_LOG_CERT`` and ``PULSE_LEARNING_LOG_KEY``: the client's
  certificate and key (PEM) for mutual TLS; together, and with the CA.
"""

from __future__ import annotations

import os
from typing import Optional

import grpc

__all__ = ["TOKEN_FILE_ENV", "CA_ENV", "CERT_ENV", "KEY_ENV", "token_from_environment", "credentials_from_environment"]

TOKEN_FILE_ENV = "PULSE_LEARNING_LOG_TOKEN_FILE"
CA_ENV = "PULSE_LEARNING_LOG_CA"
CERT_ENV = "PULSE_LEARNING_LOG_CERT"
KEY_ENV = "PULSE_LEARNING_LOG_KEY"


def _read(variable: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise ValueError(f"{variable}={path}: cannot read the file ({err.strerror or err})") from None


def token_from_environment() -> Optional[str]:
    """The bearer token in the file ``PULSE_LEARNING_LOG_TOKEN_FILE`` names, or None when it is unset."""
    path = os.environ.get(TOKEN_FILE_ENV)
    if not path:
        return None
    token = _read(TOKEN_FILE_ENV, path).decode("utf-8", "replace").strip()
    if not token:
        raise ValueError(f"{TOKEN_FILE_ENV}={path}: the file is empty")
    return token


def credentials_from_environment() -> Optional[grpc.ChannelCredentials]:
    """TLS credentials from ``PULSE_LEARNING_LOG_CA`` (and, for mutual TLS,
    ``PULSE_LEARNING_LOG_CERT`` and ``PULSE_LEARNING_LOG_KEY``), or None
    (plaintext) when none is set. ``ValueError`` names what is missing or unreadable."""
    ca, cert, key = (os.environ.get(v) or None for v in (CA_ENV, CERT_ENV, KEY_ENV))
    if (cert is None) != (key is None):
        raise ValueError(f"{CERT_ENV} and {KEY_ENV} go together (mutual TLS); only {CERT_ENV if cert else KEY_ENV} is set")
    if ca is None:
        if cert is not None:
            raise ValueError(f"{CERT_ENV} and {KEY_ENV} (mutual TLS) need {CA_ENV}, the CA of the server's certificate")
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(CA_ENV, ca),
        private_key=None if key is None else _read(KEY_ENV, key),
        certificate_chain=None if cert is None else _read(CERT_ENV, cert),
    )
