"""One optimizer step, the same for the tagger and the lemmatizer: loss, backward pass, clipped gradient, update."""

from __future__ import annotations

import torch


def gradient_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch, *, grad_clip: float) -> torch.Tensor:
    """Update ``model`` on ``batch`` (whatever its ``loss`` takes); returns the loss, detached (a scalar)."""
    optimizer.zero_grad(set_to_none=True)
    loss = model.loss(batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()
