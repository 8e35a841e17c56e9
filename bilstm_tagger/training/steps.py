"""One optimizer step, the same for the tagger and the lemmatizer: the optimizer, loss, backward pass, clipped
gradient, update; and the learning-rate schedule both follow (``schedule`` in ``[training]`` and ``[lemmatizer]``),
which also says when patience ends a run, and why a run ended (:func:`stop_reason`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Union

import torch
from torch.autograd.graph import increment_version

if TYPE_CHECKING:
    from .config import LemmatizerSettings, TrainingSettings


def adam(parameters: Iterable[torch.nn.Parameter], *, learning_rate: float, beta2: float = 0.999) -> torch.optim.Adam:
    """Adam over ``parameters``, fused into one kernel per step (torch's ``fused=True``; the same update up to float
    rounding): the default model's EWT steps spent 7.7% of their time in the per-parameter loop, 3.1% fused
    (bench/RESULTS.md, "Speed": "Training EWT in 10 minutes").

    The fused kernel writes the parameters without bumping their version counters, by which values derived from
    them (:class:`~bilstm_tagger.models.int8.KeptWeights`: the int8 copies dev is tagged with) know they changed; a
    hook after each step bumps them."""
    parameters = list(parameters)
    optimizer = torch.optim.Adam(parameters, lr=learning_rate, betas=(0.9, beta2), fused=True)
    optimizer.register_step_post_hook(lambda *_: increment_version(parameters))
    return optimizer


def gradient_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch, *, grad_clip: float) -> torch.Tensor:
    """Update ``model`` on ``batch`` (whatever its ``loss`` takes); returns the loss, detached (a scalar)."""
    optimizer.zero_grad(set_to_none=True)
    loss = model.loss(batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def linear_rate(
    learning_rate: float, *, epoch: int, batch: int, batches: int, max_epochs: int, decay_start: float
) -> float:
    """The "linear" schedule's rate for batch ``batch`` (from 0) of ``batches`` in epoch ``epoch`` (from 1):
    ``learning_rate`` for the first ``decay_start`` of ``max_epochs``, then falling in every step to 0 at the end
    of the last epoch. It depends on these numbers alone, so a resumed run continues the same schedule."""
    done = (epoch - 1 + batch / max(batches, 1)) / max_epochs
    if done <= decay_start:
        return learning_rate
    return learning_rate * (1.0 - done) / (1.0 - decay_start)


def rate_before_batch(
    optimizer: torch.optim.Optimizer, settings: Union["TrainingSettings", "LemmatizerSettings"], *, epoch: int,
    batch: int, batches: int,
) -> None:
    """Before batch ``batch`` of ``batches`` in ``epoch``: the "linear" schedule's rate (the "plateau" schedule
    changes it only between epochs)."""
    if settings.schedule == "linear":
        rate = linear_rate(
            settings.learning_rate, epoch=epoch, batch=batch, batches=batches, max_epochs=settings.max_epochs,
            decay_start=settings.decay_start,
        )
        for group in optimizer.param_groups:
            group["lr"] = rate


def rate_after_stalled_epoch(
    optimizer: torch.optim.Optimizer, settings: Union["TrainingSettings", "LemmatizerSettings"]
) -> None:
    """After an epoch without a better dev score: the "plateau" schedule multiplies the rate by ``lr_decay``."""
    if settings.schedule == "plateau":
        for group in optimizer.param_groups:
            group["lr"] *= settings.lr_decay


def patience_ran_out(settings: Union["TrainingSettings", "LemmatizerSettings"], bad_epochs: int) -> bool:
    """Whether ``bad_epochs`` epochs in a row without a better dev score end the run. Only under "plateau": a
    "linear" run is ``max_epochs`` long by design, as its last epochs, at the lowest rates, are where it gains
    (on the small treebanks' dev parts, patience stopped it soon after the decay began)."""
    return settings.schedule == "plateau" and bad_epochs >= settings.patience


def stop_reason(
    settings: Union["TrainingSettings", "LemmatizerSettings"], *, epoch: int, bad_epochs: int, finished_epoch: bool,
    out_of_time: bool,
) -> Optional[str]:
    """Why a run ends after ``epoch`` (``finished_epoch``: all its batches ran; ``out_of_time``: past
    ``max_minutes``), as ``meta.json`` records it: "max_epochs" (the whole schedule ran), "max_minutes" (the time cap
    cut it short: a "linear" run's rate had not come down to 0), "patience", or None while it goes on."""
    if epoch >= settings.max_epochs and finished_epoch:
        return "max_epochs"
    if out_of_time:
        return "max_minutes"
    if patience_ran_out(settings, bad_epochs):
        return "patience"
    return None
