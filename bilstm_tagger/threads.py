"""Torch threads in the processes we fork: one each, set at the fork (torch-free, so the spaCy component can ask
for it before any model is loaded).

A process whose torch (OpenMP) thread pool has run hangs in the first parallel operation of a child it forks: the
child inherits the pool's state but not its threads. And N forked workers with torch's default thread count ask
for N times the machine's cores, each waiting on threads that share a core with another worker (``nlp.pipe(...,
n_process=2)`` ran 3.6x slower than one process that way, bench/RESULTS.md). So once
:func:`one_torch_thread_in_forked_children` has been called, every child forked later starts with one torch thread;
a child may raise it again with ``torch.set_num_threads``.
"""

from __future__ import annotations

import functools
import os
import sys


def _one_torch_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # a torch the child imports later reads it
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@functools.lru_cache(maxsize=None)
def one_torch_thread_in_forked_children() -> None:
    """Make children forked from now on start with one torch thread (registered once per process)."""
    os.register_at_fork(after_in_child=_one_torch_thread)
