"""The client for asyncio code, over ``grpc.aio``: the same API as
:mod:`pulse_learning_log`, as coroutines.

    from pulse_learning_log.aio import BatchWriter, LearningLogClient

    async with LearningLogClient("127.0.0.1:50051") as log:
        ack = await log.log_variable_weight_change("hope", 1.0, 1.2)
        stats = await log.trust.get_stats("hope")

    async with BatchWriter("127.0.0.1:50051") as writer:
        for step in steps:
            await writer.log_variable_weight_change("hope", step.old, step.new)
        await writer.flush()

A run block for asyncio code (see :func:`pulse_learning_log.run`)::

    async with pulse_learning_log.aio.run("exp-42", params={"lr": 0.1}):
        ...

Results and errors are the sync client's (:class:`~pulse_learning_log.Ack`,
:class:`~pulse_learning_log.LearningLogError` and its subclasses). Use one
client or writer from one running event loop.
"""

from __future__ import annotations

from .. import fork_support  # noqa: F401 - before grpc is imported
from .batch_writer import BatchWriter
from .client import LearningLogClient
from .connection import AsyncConnection
from .run_block import AsyncRunBlock, run
from .trust import TrustTracker

__all__ = ["LearningLogClient", "BatchWriter", "TrustTracker", "AsyncConnection", "AsyncRunBlock", "run"]
