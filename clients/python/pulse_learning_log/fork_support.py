"""gRPC's fork support, switched on before grpc is imported.

A forked child can use gRPC only with gRPC's own fork support
(``GRPC_ENABLE_FORK_SUPPORT``): without it the child shares the parent's
polling state, and we saw the child's calls hang and the parent's with them.
gRPC reads the variable when it is first imported, so this module, imported
first by the package, sets it (unless the program set it already, or grpc
was imported before: then the program's choice stands).
"""

from __future__ import annotations

import os
import sys

__all__ = ["GRPC_FORK_SUPPORT"]

_TRUE = ("1", "true", "yes", "on")

if "grpc" not in sys.modules:
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "1")

#: True when gRPC's fork support is (most likely) on in this process.
GRPC_FORK_SUPPORT: bool = os.environ.get("GRPC_ENABLE_FORK_SUPPORT", "").strip().lower() in _TRUE
