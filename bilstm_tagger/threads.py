"""Torch threads: one in each process we fork, set at the fork, and a choice per call on a busy machine
(torch-free, so the spaCy component can ask for the first before any model is loaded).

A process whose torch (OpenMP) thread pool has run hangs in the first parallel operation of a child it forks: the
child inherits the pool's state but not its threads. And N forked workers with torch's default thread count ask
for N times the machine's cores, each waiting on threads that share a core with another worker (``nlp.pipe(...,
n_process=2)`` ran 3.6x slower than one process that way, bench/RESULTS.md). So once
:func:`one_torch_thread_in_forked_children` has been called, every child forked later starts with one torch thread;
a child may raise it again with ``torch.set_num_threads``.

A :class:`ThreadGovernor` chooses between torch's thread count and one thread for each batch a CPU tagger runs, from
how much CPU the process got.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time


def _one_torch_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # a torch the child imports later reads it
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@functools.lru_cache(maxsize=None)
def one_torch_thread_in_forked_children() -> None:
    """Make children forked from now on start with one torch thread (registered once per process)."""
    os.register_at_fork(after_in_child=_one_torch_thread)


class ThreadGovernor:
    """Torch threads for CPU tagging on a machine that may be busy, chosen batch by batch.

    With every core free, torch's threads tag fastest; when another process takes a core, threads that wait on each
    other while sharing it make tagging several times slower than one thread (bench/RESULTS.md, "Speed"). The sign
    is the CPU time the process got against the wall time: N threads that get less than ``share`` of N cores are
    competing (or the batch was mostly Python, which one thread runs as well), so the next batches use one thread.
    After ``wait`` batches at one thread, one batch tries torch's threads again; each failed try doubles the wait
    (up to ``longest_wait``) and a good one resets it, so a busy machine is rarely probed and an idle one that looked
    busy for a moment soon gets its threads back.

    The governor only ever lowers the thread count, for one batch at a time, and restores torch's setting after
    it: a process whose setting is one thread (a forked worker, :func:`one_torch_thread_in_forked_children`) is
    left alone.

    Args:
        set_threads: ``torch.set_num_threads``. get_threads: ``torch.get_num_threads``.
    """

    def __init__(
        self, set_threads, get_threads, *, share: float = 0.8, first_wait: int = 2, longest_wait: int = 64
    ) -> None:
        self.set_threads, self.get_threads = set_threads, get_threads
        self.share, self.first_wait, self.longest_wait = share, first_wait, longest_wait
        self.one_thread = False
        self.wait, self.at_one = first_wait, 0

    def record(self, cpu_per_wall: float, threads: int) -> None:
        """Choose for the next batch from this batch's CPU seconds per wall-clock second with ``threads``."""
        if self.one_thread:
            self.at_one += 1
            if self.at_one >= self.wait:
                self.one_thread = False  # try again
        elif cpu_per_wall < self.share * threads:
            probing = self.at_one > 0  # this batch was a try after a wait
            self.wait = min(2 * self.wait, self.longest_wait) if probing else self.first_wait
            self.one_thread, self.at_one = True, 0
        else:
            self.wait, self.at_one = self.first_wait, 0

    @contextlib.contextmanager
    def running(self):
        """Run one batch with the chosen thread count, and learn from it."""
        threads = self.get_threads()
        if threads <= 1:
            yield
            return
        used = 1 if self.one_thread else threads
        if used != threads:
            self.set_threads(used)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if used != threads:
                self.set_threads(threads)
            if wall > 0:
                self.record(cpu / wall, used)


def running(governor: "ThreadGovernor | None"):
    """``governor.running()``, or nothing to do without one."""
    return governor.running() if governor is not None else contextlib.nullcontext()
