"""Resumable training state: what a gradient run needs to go on from its last finished epoch, as plain data.

Each epoch's end writes, into the model directory beside the best model and the log, ``checkpoint.json`` (epoch,
optimizer step, patience counter, elapsed training time, best dev score so far, the Python RNG state, the
optimizer's hyperparameters, and the fingerprint of the run: config and data) and ``checkpoint.safetensors`` (the
trained weights, their moving average, the optimizer's moment estimates and step counts, the torch RNG state).
Resuming from them on the CPU with the same threads and no time cap ends with the weights an uninterrupted run
would have had, bit for bit. A finished run's directory has no checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from confection import Config
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from ..errors import ModelDirError
from ..models.neural import NeuralTagger

STATE_FILE = "checkpoint.json"
WEIGHTS_FILE = "checkpoint.safetensors"
FORMAT_VERSION = 1


def run_fingerprint(config: Config, train_sha256: str, dev_sha256: str) -> str:
    """What makes two runs the same run: the config (less ``[paths]``, which may spell the same files differently)
    and the contents of the training and development files."""
    settings = Config(config).copy()
    settings.pop("paths", None)
    text = json.dumps({"config": settings.to_str(), "train": train_sha256, "dev": dev_sha256}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class TrainingState:
    """The scalar part of a checkpoint (``checkpoint.json``).

    Attributes:
        run: :func:`run_fingerprint` of the run.
        epoch: the last finished epoch.
        step: optimizer steps taken (the moving average's warm-up depends on it).
        bad_epochs: epochs since the last improvement on dev.
        elapsed: seconds of training so far (``max_minutes`` counts them across resumes).
        best_score: the best dev selection score so far, at ``best_epoch``, with its figures ``best_dev``.
        python_rng: ``random.Random.getstate()`` of the batching and word-dropout RNG.
        optimizer_groups: the optimizer's ``param_groups`` (learning rate, betas, ...).
    """

    run: str
    epoch: int
    step: int
    bad_epochs: int
    elapsed: float
    best_score: float
    best_epoch: int
    best_dev: Dict[str, Optional[float]]
    python_rng: list
    optimizer_groups: list


def checkpoint_files(
    state: TrainingState, *, model: NeuralTagger, averaged: Optional[NeuralTagger], optimizer: torch.optim.Optimizer
) -> Dict[str, bytes]:
    """The two checkpoint files as bytes (see the module docstring)."""
    arrays = {f"model.{name}": value for name, value in model.to_arrays().items()}
    if averaged is not None:
        arrays.update({f"averaged.{name}": value for name, value in averaged.to_arrays().items()})
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            arrays[f"optimizer.{index}.{key}"] = value.detach().to("cpu").contiguous().numpy()
    arrays["torch_rng"] = torch.get_rng_state().numpy()
    text = json.dumps({"format_version": FORMAT_VERSION, **asdict(state)})
    return {STATE_FILE: text.encode("utf-8"), WEIGHTS_FILE: save_arrays(arrays)}


def read_checkpoint(directory: Path) -> Optional[Tuple[TrainingState, Dict[str, np.ndarray]]]:
    """The checkpoint in ``directory``, or None when it has none.

    Raises:
        ModelDirError: for a checkpoint that cannot be read.
    """
    state_path, weights_path = directory / STATE_FILE, directory / WEIGHTS_FILE
    if not state_path.is_file():
        return None
    try:
        data = json.loads(state_path.read_text(encoding="utf-8"))
        if data.pop("format_version", None) != FORMAT_VERSION:
            raise ValueError(f"format_version is not {FORMAT_VERSION}")
        state = TrainingState(**data)
        arrays = load_arrays(weights_path.read_bytes())
    except (OSError, ValueError, TypeError, SafetensorError) as exc:
        raise ModelDirError(
            f"{directory}: its training checkpoint cannot be read ({exc}); pass --overwrite to start again"
        ) from None
    return state, arrays


def restore(
    arrays: Dict[str, np.ndarray],
    *,
    model: NeuralTagger,
    averaged: Optional[NeuralTagger],
    optimizer: torch.optim.Optimizer,
    state: TrainingState,
    rng: random.Random,
) -> None:
    """Put a checkpoint back into a freshly built model, its moving average, its optimizer and the RNGs."""

    def part(prefix: str) -> Dict[str, np.ndarray]:
        return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}

    model.load_arrays(part("model."))
    if averaged is not None:
        averaged.load_arrays(part("averaged."))
    optimizer_state: Dict[int, Dict[str, torch.Tensor]] = {}
    for name, value in part("optimizer.").items():
        index, key = name.split(".", 1)
        optimizer_state.setdefault(int(index), {})[key] = torch.from_numpy(np.array(value))
    groups = [{**group, "betas": tuple(group["betas"])} for group in state.optimizer_groups]
    optimizer.load_state_dict({"state": optimizer_state, "param_groups": groups})
    torch.set_rng_state(torch.from_numpy(np.array(arrays["torch_rng"])))
    version, internal, gauss = state.python_rng
    rng.setstate((version, tuple(internal), gauss))
