"""The model directory: plain data only, checked part by part on loading.

A model directory holds::

    config.cfg         the resolved training config (confection), [model] naming the architecture
    vocab.json         word and character vocabularies with counts, and every training form
    labels.json        the label list of each trained target
    model.safetensors  the weights
    meta.json          versions, training files with sha256, best dev scores, date, and the sha256 of each part

Each file is written atomically and ``meta.json`` last, so a directory whose parts do not match the checksums in
its ``meta.json`` was interrupted or tampered with, and loading says so. Nothing is ever unpickled.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch
from confection import Config
from safetensors import SafetensorError
from safetensors.numpy import load as load_numpy
from safetensors.numpy import save as save_numpy
from safetensors.torch import load as load_torch
from safetensors.torch import save as save_torch

from .atomic_write import atomic_write_bytes, atomic_write_text
from .errors import ModelDirError
from .registry import registry
from .tagger import Tagger, TaggerModel
from .vocab import Vocabularies

FORMAT_VERSION = 1
CONFIG_FILE = "config.cfg"
VOCAB_FILE = "vocab.json"
LABELS_FILE = "labels.json"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
PARTS = (CONFIG_FILE, VOCAB_FILE, LABELS_FILE, WEIGHTS_FILE)


def sha256_file(path: Union[str, Path]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_network(config: Config, vocabs: Vocabularies) -> TaggerModel:
    """Build an untrained model from a config's ``[model]`` section and the vocabularies' sizes."""
    from . import models  # noqa: F401  (registers the architectures)

    resolved = registry.resolve({"model": config["model"]}, validate=True)
    return resolved["model"](
        n_words=len(vocabs.words),
        n_chars=len(vocabs.chars),
        n_labels={target: len(labels) for target, labels in vocabs.labels.items()},
    )


def library_versions() -> Dict[str, str]:
    """Versions recorded in ``meta.json``."""
    import spacy

    from . import __version__

    return {
        "bilstm_tagger": __version__,
        "torch": torch.__version__,
        "spacy": spacy.__version__,
        "python": platform.python_version(),
    }


def save_model(
    directory: Union[str, Path],
    *,
    config: Config,
    vocabs: Vocabularies,
    network: TaggerModel,
    meta: Optional[dict] = None,
) -> Path:
    """Write a model directory (created if needed); see the module docstring for its files.

    Args:
        directory: where to write.
        config: the resolved training config.
        vocabs: vocabularies and labels.
        network: the trained model (any device; torch weights are saved from the CPU).
        meta: extra entries for ``meta.json`` (training files, dev scores, ...).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(network, torch.nn.Module):
        weights = save_torch({k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()})
    else:  # the numpy HMM
        weights = save_numpy({k: np.ascontiguousarray(v) for k, v in network.state_dict().items()})
    vocab_data = vocabs.to_dict()
    labels = vocab_data.pop("labels")
    atomic_write_text(directory / CONFIG_FILE, config.to_str())
    atomic_write_text(directory / VOCAB_FILE, json.dumps(vocab_data, ensure_ascii=False))
    atomic_write_text(directory / LABELS_FILE, json.dumps(labels, ensure_ascii=False, indent=1))
    atomic_write_bytes(directory / WEIGHTS_FILE, weights)
    full_meta = {
        "format_version": FORMAT_VERSION,
        "architecture": config["model"].get("@architectures"),
        "versions": library_versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(meta or {}),
        "parts": {name: sha256_file(directory / name) for name in PARTS},
    }
    atomic_write_text(directory / META_FILE, json.dumps(full_meta, ensure_ascii=False, indent=2) + "\n")
    return directory


def _read_json(directory: Path, name: str) -> dict:
    try:
        return json.loads((directory / name).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{directory / name}: corrupt JSON ({exc})") from None


def read_meta(directory: Union[str, Path]) -> dict:
    """The ``meta.json`` of a model directory, after checking that every part is present and intact."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelDirError(f"{directory}: no such model directory")
    missing = [name for name in (*PARTS, META_FILE) if not (directory / name).is_file()]
    if missing:
        raise ModelDirError(
            f"{directory}: not a complete model directory, missing {', '.join(missing)}"
            " (train one with `bilstm-tagger train`)"
        )
    meta = _read_json(directory, META_FILE)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"{directory / META_FILE}: format_version {meta.get('format_version')!r}, this version reads {FORMAT_VERSION}"
        )
    for name, expected in meta.get("parts", {}).items():
        if sha256_file(directory / name) != expected:
            raise ModelDirError(
                f"{directory / name}: does not match the checksum in meta.json (corrupt or partly written)"
            )
    return meta


def load_model(directory: Union[str, Path], *, device: Union[str, torch.device] = "cpu") -> Tagger:
    """Load a model directory written by :func:`save_model`.

    Weights are read to the CPU, then moved, so a model trained on a GPU loads on a CPU-only machine.

    Args:
        directory: the model directory.
        device: where the network runs.

    Raises:
        ModelDirError: naming the missing, corrupt or inconsistent part.
    """
    directory = Path(directory)
    meta = read_meta(directory)
    try:
        config = Config().from_disk(directory / CONFIG_FILE, interpolate=False)
    except Exception as exc:  # confection raises several types for a malformed file
        raise ModelDirError(f"{directory / CONFIG_FILE}: cannot be read as a config ({exc})") from None
    vocab_data = _read_json(directory, VOCAB_FILE)
    vocab_data["labels"] = _read_json(directory, LABELS_FILE)
    try:
        vocabs = Vocabularies.from_dict(vocab_data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{directory / VOCAB_FILE}: unexpected content ({exc!r})") from None
    try:
        network = build_network(config, vocabs)
    except Exception as exc:
        raise ModelDirError(f"{directory / CONFIG_FILE}: [model] cannot be built ({exc})") from None
    load = load_torch if isinstance(network, torch.nn.Module) else load_numpy
    try:
        state = load((directory / WEIGHTS_FILE).read_bytes())
    except SafetensorError as exc:
        raise ModelDirError(f"{directory / WEIGHTS_FILE}: corrupt weights ({exc})") from None
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelDirError(
            f"{directory / WEIGHTS_FILE}: weights do not fit the network described by config.cfg and the "
            f"vocabularies ({str(exc).splitlines()[0]})"
        ) from None
    return Tagger(config=config, vocabs=vocabs, network=network, device=torch.device(device), meta=meta)
