"""Training a tagger from CoNLL-U: the epoch loop, early stopping and checkpointing.

:func:`train` is keyword-only and does everything the ``train`` command does; the CLI only parses arguments and
turns its flags into config overrides. Families are trained according to the model contract
(:mod:`~bilstm_tagger.models.base`): by counting (``fit``) or by gradient (``loss``), told apart in one place,
:func:`train`. The best model on dev (mean of the per-target dev accuracies) is written to the output directory each
time it improves, so an interrupted run keeps its best finished epoch. Each epoch's figures are appended to
``train_log.jsonl``. With the same seed, data and thread count on the CPU, two runs give the same weights.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from confection import Config
from tqdm.auto import tqdm

from ..corpus import Sentence, read_conllu
from ..errors import BilstmTaggerError, ConfigError
from ..evaluation.scoring import accuracies, score
from ..files import sha256_file
from ..inference.device import resolve_device
from ..inference.options import InferenceOptions
from ..inference.tagger import Tagger
from ..models.base import CountingTagger, TaggerModel, build_model
from ..models.batching import length_batches, make_batch
from ..models.neural import NeuralTagger
from ..serialization import TrainedModel, save_model
from ..targets import TARGETS
from ..vocab import Vocabularies
from .config import Settings, TrainingSettings

LOG_FILE = "train_log.jsonl"


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    output_dir: Path
    best_epoch: int
    best_dev: Dict[str, Optional[float]]
    epochs: int
    seconds: float


def _dev_scores(tagger: Tagger, dev: Sequence[Sentence]) -> Dict[str, Optional[float]]:
    predicted = tagger.tag([s.forms for s in dev])
    scores = accuracies(score(dev, predicted)["metrics"], tagger.targets)
    return {name: scores[name] for name in ("upos", "xpos", "ufeats", "alltags")}


def _selection_score(vocabs: Vocabularies, dev: Dict[str, Optional[float]]) -> float:
    """Mean dev accuracy over the trained targets."""
    values = [dev[TARGETS[t].metric] for t in vocabs.targets if dev[TARGETS[t].metric] is not None]
    return sum(values) / len(values) if values else 0.0


def _files_meta(paths: Sequence[Path]) -> List[dict]:
    return [{"name": p.name, "sha256": sha256_file(p)} for p in paths]


def train(config: Config, *, output_dir: Union[str, Path], progress: bool = True) -> TrainResult:
    """Train a tagger and write the best model on dev to ``output_dir``.

    Args:
        config: an interpolated config (:func:`~bilstm_tagger.training.config.load_config`) with ``[paths]``,
            ``[system]``, ``[model]`` and ``[training]``.
        output_dir: the model directory to write (created if needed).
        progress: show a progress bar.

    Raises:
        ConfigError: for a config that cannot be used; CorpusError: for unreadable data.
    """
    config = Config(config).copy()
    settings = Settings.from_config(config)
    run_seed = settings.system.seed
    try:
        torch_device = resolve_device(settings.system.device)
    except BilstmTaggerError as exc:  # CUDA asked for where there is none
        raise ConfigError(f"[system] {exc}") from None

    train_file, dev_file = Path(settings.paths.train), Path(settings.paths.dev)
    train_sentences = read_conllu(train_file)
    dev_sentences = read_conllu(dev_file)
    training = settings.training
    vocabs = Vocabularies.build(train_sentences, targets=training.targets, min_freq=training.min_freq)
    if not vocabs.targets:
        raise ConfigError(f"{train_file}: none of the targets {list(training.targets)} is annotated")

    torch.manual_seed(run_seed)
    rng = random.Random(run_seed)
    try:
        model = build_model(settings.model, vocabs)
    except Exception as exc:
        raise ConfigError(f"[model] cannot be built: {exc}") from None

    run = _Run(
        config=config,
        vocabs=vocabs,
        output_dir=Path(output_dir),
        dev=dev_sentences,
        device=torch_device,
        meta={"train_files": _files_meta([train_file]), "dev_files": _files_meta([dev_file]), "seed": run_seed},
        progress=progress,
    )
    # the one place where the two ways of learning part (see the model contract)
    if isinstance(model, CountingTagger):  # one pass over the data is the whole training
        fit_start = time.perf_counter()
        try:
            model.fit(train_sentences, vocabs.labels)
        except ValueError as error:  # a model the data makes too large to build
            raise ConfigError(f"[model]: {error}") from None
        words = sum(len(s) for s in train_sentences)
        run.end_epoch(model, epoch=1, loss=None, words=words, seconds=time.perf_counter() - fit_start, lr=None)
    else:
        _train_network(model, run, train_sentences, training, rng)
    return run.result()


class _Run:
    """Bookkeeping shared by every family: dev scoring, keeping the best model, the JSONL log, the summary line."""

    def __init__(
        self,
        *,
        config: Config,
        vocabs: Vocabularies,
        output_dir: Path,
        dev: Sequence[Sentence],
        device: torch.device,
        meta: dict,
        progress: bool,
    ) -> None:
        self.config, self.vocabs, self.output_dir, self.dev = config, vocabs, output_dir, dev
        self.device, self.meta, self.progress = device, meta, progress
        output_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = output_dir / LOG_FILE
        self.log_path.write_text("", encoding="utf-8")
        self.start = time.perf_counter()
        self.best_score, self.best_epoch, self.best_dev = -math.inf, 0, {}
        self.epochs = 0
        self.last_dev: Dict[str, str] = {}  # the previous epoch's dev figures, shown in the progress bar

    def end_epoch(
        self, model: TaggerModel, *, epoch: int, loss: Optional[float], words: int, seconds: float,
        lr: Optional[float],
    ) -> bool:
        """Score ``model`` on dev, save it if it is the best so far, log the epoch; returns whether it improved."""
        trained = TrainedModel(config=self.config, vocabs=self.vocabs, model=model)
        tagger = Tagger(trained, InferenceOptions(device=str(self.device)))
        dev = _dev_scores(tagger, self.dev)
        current = _selection_score(self.vocabs, dev)
        improved = current > self.best_score
        self.epochs = epoch
        self.last_dev = {f"dev_{k}": f"{v:.2f}" for k, v in dev.items() if v is not None and k != "alltags"}
        if improved:
            self.best_score, self.best_epoch, self.best_dev = current, epoch, dev
            save_model(
                self.output_dir,
                config=self.config,
                vocabs=self.vocabs,
                model=model,
                meta={**self.meta, "best_epoch": epoch, "best_dev": dev},
            )
        record = {
            "epoch": epoch,
            "loss": None if loss is None else round(loss, 6),
            "dev": dev,
            "train_words_per_second": round(words / max(seconds, 1e-9), 1),
            "seconds": round(time.perf_counter() - self.start, 2),
            "lr": lr,
            "best": improved,
        }
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        if self.progress:
            dev_text = " ".join(f"{k}={v:.2f}" for k, v in dev.items() if v is not None)
            loss_text = "" if loss is None else f"  loss {loss:.4f}"
            tqdm.write(
                f"epoch {epoch:>3}{loss_text}  dev {dev_text}  "
                f"{record['train_words_per_second']:.0f} w/s  {'*' if improved else ''}"
            )
        return improved

    def result(self) -> TrainResult:
        return TrainResult(
            output_dir=self.output_dir,
            best_epoch=self.best_epoch,
            best_dev=self.best_dev,
            epochs=self.epochs,
            seconds=time.perf_counter() - self.start,
        )


def _train_network(
    model: NeuralTagger,
    run: _Run,
    train_sentences: Sequence[Sentence],
    settings: TrainingSettings,
    rng: random.Random,
) -> None:
    """The gradient loop: epochs of length-bucketed batches, dev check after each, decay and patience."""
    device = run.device
    vocabs = run.vocabs
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, betas=(0.9, settings.beta2))
    # With ema_decay > 0, dev scores and checkpoints use an exponential moving average of the weights, which
    # smooths out the noise of the last updates (Polyak averaging).
    averaged = copy.deepcopy(model) if settings.ema_decay > 0 else model
    trained_params = list(model.parameters())
    averaged_params = list(averaged.parameters())
    step = 0
    lengths = [len(s) for s in train_sentences]
    n_train_words = sum(lengths)
    bad_epochs = 0
    deadline = run.start + 60.0 * settings.max_minutes if settings.max_minutes > 0 else math.inf
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        total_loss, seen_words = 0.0, 0
        bar = tqdm(
            total=n_train_words, desc=f"epoch {epoch}", unit="w", disable=not run.progress, leave=False, dynamic_ncols=True
        )
        timed_out = False
        for indices in length_batches(lengths, batch_words=settings.batch_words, rng=rng):
            chosen = [train_sentences[i] for i in indices]
            batch = make_batch(
                [s.forms for s in chosen], vocabs, labels=chosen, word_dropout=settings.word_dropout, rng=rng
            ).to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            step += 1
            if averaged is not model:
                # warm-up (as in TensorFlow's ExponentialMovingAverage) so early averages are not stuck at init
                decay = min(settings.ema_decay, (1.0 + step) / (10.0 + step))
                with torch.no_grad():
                    torch._foreach_lerp_(averaged_params, trained_params, 1.0 - decay)
            total_loss += float(loss.detach()) * batch.n_words
            seen_words += batch.n_words
            bar.update(batch.n_words)
            bar.set_postfix(loss=f"{total_loss / seen_words:.4f}", **run.last_dev, refresh=False)
            if time.perf_counter() > deadline:
                timed_out = True
                break
        bar.close()
        improved = run.end_epoch(
            averaged,
            epoch=epoch,
            loss=total_loss / max(seen_words, 1),
            words=seen_words,
            seconds=time.perf_counter() - epoch_start,
            lr=optimizer.param_groups[0]["lr"],
        )
        if improved:
            bad_epochs = 0
        else:
            bad_epochs += 1
            for group in optimizer.param_groups:
                group["lr"] *= settings.lr_decay
        if timed_out or bad_epochs >= settings.patience:
            break
