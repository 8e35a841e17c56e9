"""Choosing the torch device from a user setting ("auto", "cpu", "cuda", "cuda:N")."""

from __future__ import annotations

import torch

from .errors import BilstmTaggerError


def resolve_device(setting: str = "auto") -> torch.device:
    """Turn a device setting into a torch device.

    Args:
        setting: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".

    Raises:
        BilstmTaggerError: for CUDA asked for on a machine without it, or an unknown setting.
    """
    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda" or setting.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise BilstmTaggerError(f"device {setting!r} asked for, but torch sees no CUDA GPU here")
        return torch.device(setting)
    raise BilstmTaggerError(f"unknown device {setting!r}: use auto, cpu, cuda or cuda:N")
