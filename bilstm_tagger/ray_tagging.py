"""Tagging with Ray Data, for corpora that outgrow one machine (``pip install bilstm-tagger[ray]``).

Two entry points, both a pool of Ray actors (:meth:`ray.data.Dataset.map_batches` with a callable class) in which
each actor loads the model once and tags with one torch thread per CPU it was given, or on its GPU:

- :func:`tag_dataset` tags a Ray Dataset of sentences (a ``forms`` column of word lists) lazily, adding one column
  per predicted target; the caller writes it where it likes (``write_parquet``, ``iter_rows`` ...).
- :func:`tag_shards` tags a directory of CoNLL-U or pre-tokenized text shards into another, one output shard per
  input shard (same name, ``.conllu``), each written atomically by :func:`~bilstm_tagger.inference.prediction.
  predict_file`, so a shard is either complete or absent. This is ``bilstm-tagger predict --ray ADDRESS IN_DIR -o
  OUT_DIR``.

An actor that dies (its machine lost, killed for memory) is restarted by Ray Data and its batch tried again (its
default for actor pools): a retried shard is written again whole, so no shard is lost or written twice. An error in
the data (a malformed shard) is not retried; it stops the run with the file and line named.

Ray is imported only by these functions, so the rest of the package never needs it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from .errors import BilstmTaggerError
from .inference.options import InferenceOptions

#: Input shards :func:`tag_shards` reads, by suffix.
SHARD_SUFFIXES = (".conllu", ".txt")


def require_ray():
    """The ``ray`` module with Ray Data, or a message saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (the Data library is the [ray] extra's "ray[data]")
    except ImportError:
        raise BilstmTaggerError(
            "tagging with Ray needs Ray Data: pip install 'bilstm-tagger[ray]' (or pip install 'ray[data]')"
        ) from None
    return ray


def _load(model_dir: str, options: Dict[str, Any], num_cpus: float):
    """The actor's tagger: loaded once, tagging with as many torch threads as the CPUs Ray gave the actor."""
    import torch

    from .inference.tagger import load_model

    torch.set_num_threads(max(1, int(num_cpus)))
    return load_model(model_dir, InferenceOptions(**options))


class SentenceTagger:
    """Ray Data actor: tags batches of sentences (a ``forms`` column of word lists), adding a column per target."""

    def __init__(self, model_dir: str, options: Dict[str, Any], num_cpus: float) -> None:
        self.tagger = _load(model_dir, options, num_cpus)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        tags = self.tagger.tag([[str(form) for form in forms] for forms in batch["forms"]])
        out = dict(batch)
        for target in self.tagger.targets:
            column = np.empty(len(tags), dtype=object)
            column[:] = [sentence[target] for sentence in tags]
            out[target] = column
        return out


class ShardTagger:
    """Ray Data actor: tags whole shard files (a ``path`` column) into ``output_dir``; returns one row per shard
    (input, output, words)."""

    def __init__(self, model_dir: str, options: Dict[str, Any], num_cpus: float, output_dir: str) -> None:
        self.tagger = _load(model_dir, options, num_cpus)
        self.output_dir = Path(output_dir)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        from .inference.prediction import predict_file

        outputs, words = [], []
        for path in batch["path"]:
            output = self.output_dir / (Path(str(path)).stem + ".conllu")
            words.append(predict_file(self.tagger, input_path=str(path), output_path=output))
            outputs.append(str(output))
        return {"path": batch["path"], "output": np.array(outputs, dtype=object), "words": np.array(words)}


def _check_model(model_dir: Union[str, Path]) -> None:
    """Read the model directory here first: a bad one is named at once, not as an actor that cannot start."""
    from .serialization import read_meta

    read_meta(model_dir)


def _pool_args(actors: int, num_cpus: float, num_gpus: float) -> Dict[str, Any]:
    if actors < 1:
        raise ValueError(f"actors must be at least 1, not {actors}")
    return {"concurrency": actors, "num_cpus": num_cpus, "num_gpus": num_gpus}


def _our_error(exc: BaseException) -> Optional[BilstmTaggerError]:
    """The library's own error (a bad shard, a bad model) inside the exceptions Ray wraps an actor's in."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, BilstmTaggerError):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


def _device_options(options: Optional[InferenceOptions], num_gpus: float) -> Dict[str, Any]:
    """The options an actor loads the model with: a GPU actor tags on its GPU unless told otherwise."""
    chosen = asdict(options or InferenceOptions())
    if num_gpus > 0 and options is None:
        chosen["device"] = "cuda"
    return chosen


def tag_dataset(
    dataset,
    *,
    model_dir: Union[str, Path],
    actors: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    batch_size: int = 1024,
    options: Optional[InferenceOptions] = None,
):
    """Tag a Ray Dataset of sentences, lazily.

    Args:
        dataset: a :class:`ray.data.Dataset` with a ``forms`` column (one list of words per row); other columns
            are kept.
        model_dir: a model directory every node can read (shared storage, or the same path on each).
        actors: actors in the pool (each loads the model once).
        num_cpus: CPUs per actor (and its torch threads).
        num_gpus: GPUs per actor (0: CPU actors; with GPUs the actors tag on CUDA).
        batch_size: sentences per batch handed to an actor.
        options: how to tag (default :class:`InferenceOptions`, on CUDA for GPU actors).

    Returns:
        The dataset with one more column per target the model predicts (``upos``, ``xpos``, ``feats``,
        ``lemma``), a list of labels per sentence. Nothing runs until the dataset is consumed; an actor's error
        then reaches the caller as Ray raises it.
    """
    require_ray()
    _check_model(model_dir)
    return dataset.map_batches(
        SentenceTagger,
        fn_constructor_kwargs={
            "model_dir": str(model_dir), "options": _device_options(options, num_gpus), "num_cpus": num_cpus,
        },
        batch_size=batch_size,
        batch_format="numpy",
        **_pool_args(actors, num_cpus, num_gpus),
    )


def tag_shards(
    *,
    model_dir: Union[str, Path],
    input_dir: Union[str, Path],
    output_dir: Union[str, Path],
    actors: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    options: Optional[InferenceOptions] = None,
    shard_tagger: type = None,
) -> List[Dict[str, Any]]:
    """Tag every ``.conllu`` and ``.txt`` shard of ``input_dir`` into ``output_dir`` (created), one output shard
    per input shard, on the Ray cluster ``ray.init`` connected to (a local one if none).

    Paths must be readable and writable from every node (shared storage). ``shard_tagger`` is the actor class, a
    subclass of :class:`ShardTagger` to change how a shard is tagged (default: ShardTagger); the other arguments are
    :func:`tag_dataset`'s. Returns one record per shard, in the order of the input names: ``path``, ``output``,
    ``words``.

    Raises:
        BilstmTaggerError: when ``input_dir`` has no shards, two shards would write the same output, or a shard
        cannot be read (naming its file and line).
    """
    ray = require_ray()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    shards = sorted(p for p in input_dir.iterdir() if p.suffix.lower() in SHARD_SUFFIXES) if input_dir.is_dir() else []
    if not shards:
        raise BilstmTaggerError(f"{input_dir}: no .conllu or .txt shards to tag")
    stems = [p.stem for p in shards]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise BilstmTaggerError(
            f"{input_dir}: shards {', '.join(clashes)} exist as both .conllu and .txt and would write the same output"
        )
    _check_model(model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # our own errors (a malformed shard) reach the caller as they are, not as Ray's UserCodeException; a dataset
    # takes the context it was created in
    context = ray.data.DataContext.get_current()
    before, context.raise_original_map_exception = context.raise_original_map_exception, True
    try:
        # one block per shard, so that shards spread over the actors rather than sit in one batch
        paths = ray.data.from_items([{"path": str(p.resolve())} for p in shards], override_num_blocks=len(shards))
        tagged = paths.map_batches(
            shard_tagger or ShardTagger,
            fn_constructor_kwargs={
                "model_dir": str(model_dir), "options": _device_options(options, num_gpus), "num_cpus": num_cpus,
                "output_dir": str(output_dir.resolve()),
            },
            batch_size=1,
            batch_format="numpy",
            **_pool_args(actors, num_cpus, num_gpus),
        )
        rows = tagged.take_all()
    except Exception as exc:
        ours = _our_error(exc)
        if ours is None:
            raise
        raise ours from None
    finally:
        context.raise_original_map_exception = before
    records = [{"path": str(r["path"]), "output": str(r["output"]), "words": int(r["words"])} for r in rows]
    return sorted(records, key=lambda record: record["path"])
