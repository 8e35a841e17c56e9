"""Choosing the torch device from a device option ("auto", "cpu", "cuda", "cuda:N"): the one place that does."""

from __future__ import annotations

from typing import Optional

import torch

from .options import OptionError


def resolve_device(setting: str = "auto", *, use_gpu: Optional[bool] = None) -> torch.device:
    """Turn a device option into a torch device.

    Args:
        setting: "auto", "cpu", "cuda" or "cuda:N" (already checked by
            :class:`~bilstm_tagger.inference.options.InferenceOptions`).
        use_gpu: what "auto" means: None for "CUDA when torch sees it"; the spaCy component passes whether spaCy
            was asked for the GPU (``spacy.prefer_gpu()``/``require_gpu()``).

    Raises:
        OptionError: for CUDA asked for on a machine without it.
    """
    if setting == "auto":
        wanted = torch.cuda.is_available() if use_gpu is None else use_gpu
        return torch.device("cuda" if wanted and torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError(f"device {setting!r} asked for, but torch sees no CUDA GPU here")
    return torch.device(setting)
