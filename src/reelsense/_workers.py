"""Worker-process pools that run one compute thread per process.

Every process pool in reelsense (the embed job's decoders, sound-index adds and matches,
discovery fingerprinting) parallelises across processes. Each child otherwise starts its
own OpenBLAS/OpenMP pool and torch intra-op pool sized to the machine, so ``N`` workers
on ``N`` cores run ``N * N`` spinning threads. On a 2-core machine with 2 embed workers
this livelocked OpenBLAS's busy-waiting threads inside a 64 x 1025 float32 matmul: a
clean 9-video run took minutes instead of seconds, and on a CI machine with a larger
visible CPU count it never finished. :func:`process_pool` therefore wraps the pool
initializer so that each child limits BLAS/OpenMP (through ``threadpoolctl``) and torch
to one thread before doing anything else.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["limit_threads_in_worker", "process_pool"]

logger = logging.getLogger(__name__)


def limit_threads_in_worker() -> None:
    """Limit this process's BLAS/OpenMP pools and torch to one thread each.

    Meant for pool children: call it from a worker, never from the user's process (the
    setting is process-wide). torch is limited only when already imported, so a worker that
    never needs torch does not pay for importing it.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _init_worker(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    limit_threads_in_worker()
    if initializer is not None:
        initializer(*initargs)


def process_pool(
    workers: int,
    start_method: str,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> ProcessPoolExecutor:
    """A :class:`ProcessPoolExecutor` of ``workers`` children started with ``start_method``
    (``"spawn"`` or ``"forkserver"``), each limited to one compute thread before
    ``initializer(*initargs)`` runs."""
    logger.debug("starting %d %s worker processes", workers, start_method)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(start_method),
        initializer=_init_worker,
        initargs=(initializer, initargs),
    )
