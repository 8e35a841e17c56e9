"""Training on several processes with DistributedDataParallel, when started by ``torchrun``.

``torchrun --nproc_per_node N -m bilstm_tagger train ...`` starts N copies of the ``train`` command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous address in their environment. :func:`join` turns that into a
process group (gloo on the CPU, nccl on CUDA, one GPU per process); without those variables training is the usual
single process and nothing here does anything.

Every rank reads the data, builds the same vocabularies and the same initial model from the same seed, and draws
the same shuffled batch list each epoch; rank r takes batches r, r + N, r + 2N, ... (each rank the same number, so
gradient all-reduces pair up). DDP averages the gradients, so the weights stay equal on every rank. Rank 0 alone
trains the lemmatizer, scores dev, writes the model directory and checkpoints; its decisions (improved, stop) are
broadcast so every rank decays the learning rate and stops at the same batch. While rank 0 works alone, it takes the
torch threads of the ranks on its machine that wait for it (:meth:`Distribution.leader_threads`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError

T = TypeVar("T")

#: How long a rank waits for the others at a collective: rank 0 trains the lemmatizer (capped by
#: ``[lemmatizer] max_minutes``) and scores dev while the others wait.
TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class Distribution:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False
    """Whether :func:`join` created the process group (and :func:`leave` ends it)."""
    local_world_size: int = 1
    """How many of the ranks run on this machine (torchrun's ``LOCAL_WORLD_SIZE``)."""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def leads(self) -> bool:
        """Whether this process scores dev, writes files and shows progress."""
        return self.rank == 0

    def share(self, batches: Sequence[T]) -> List[T]:
        """This rank's batches of an epoch's list: every N-th from its rank on, the list first cut to a multiple
        of N (at most N - 1 batches of an epoch are left out, different ones each epoch)."""
        usable = len(batches) - len(batches) % self.world_size
        return list(batches[self.rank : usable : self.world_size])

    @contextlib.contextmanager
    def leader_threads(self) -> Iterator[None]:
        """Around what rank 0 does alone while the other ranks wait for it in a collective (training the lemmatizer,
        scoring dev): rank 0 takes the torch threads of the waiting ranks on its machine as well (torchrun starts
        each rank with one, ``OMP_NUM_THREADS=1``), up to the cores this process may run on; a rank blocked in a
        gloo collective uses no CPU. EWT's lemmatizer, 3 epochs on 2 ranks: 50 s against 62-78 s on rank 0's one
        thread (bench/RESULTS.md, "Speed"). Other ranks, and a run that is not distributed, are left as they are."""
        if not (self.active and self.leads and self.local_world_size > 1):
            yield
            return
        before = torch.get_num_threads()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(before, min(before * self.local_world_size, cores)))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any (e.g. a rank past the time limit)."""
        if not self.active:
            return flag
        value = torch.tensor([int(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def from_leader(self, values: Sequence[float], device: torch.device) -> List[float]:
        """Rank 0's ``values`` on every rank."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
        dist.broadcast(tensor, src=0)
        return tensor.tolist()

    def total(self, values: Sequence[float], device: torch.device) -> List[float]:
        """The sums of ``values`` over the ranks."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()


def join(device: torch.device) -> Tuple[Distribution, torch.device]:
    """Join the process group ``torchrun`` describes in the environment, if any.

    Returns:
        The :class:`Distribution` and the device this rank trains on (``cuda:LOCAL_RANK`` for a CUDA run).

    Raises:
        ConfigError: for a device ``torchrun`` cannot share out (an explicit ``cuda:N`` with several processes).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distribution(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index not in (None, 0):
            raise ConfigError(
                f"[system] device = {str(device)!r}: under torchrun each process takes the GPU of its LOCAL_RANK; "
                'use device = "cuda" or "auto"'
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()  # a caller's own group is used as it is, and left to the caller
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    distribution = Distribution(
        rank=rank, world_size=world_size, local_rank=local_rank, owns_group=owns_group,
        local_world_size=local_world_size,
    )
    return distribution, device


class _Loss(nn.Module):
    """A model whose forward is its loss: DDP synchronises the gradients of what goes through its forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch) -> torch.Tensor:
        return self.model.loss(batch)


class DistributedLoss(DistributedDataParallel):
    """DDP over a model's loss, with the ``loss(batch)`` method :func:`~bilstm_tagger.training.steps.gradient_step`
    calls; backward then averages the gradients over the ranks."""

    def loss(self, batch) -> torch.Tensor:
        return self(batch)


def data_parallel(model: nn.Module, distribution: Distribution) -> nn.Module:
    """What the gradient steps train: ``model`` itself, or under torchrun its DDP wrapper (same parameters).

    The batch is already on this rank's device, so DDP is given no ``device_ids`` and moves nothing.
    """
    if not distribution.active:
        return model
    return DistributedLoss(_Loss(model))


def leave(distribution: Distribution, *, wait: bool = True) -> None:
    """Leave the process group :func:`join` made: after a last barrier (so that no rank exits while another is in
    a collective), or at once (``wait=False``) when this rank failed and waiting would hang it."""
    if distribution.active and dist.is_initialized():
        if wait:
            dist.barrier()
        if distribution.owns_group:
            dist.destroy_process_group()
