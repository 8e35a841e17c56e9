"""Training a tagger from CoNLL-U: the epoch loop, early stopping, checkpoints and resuming.

:func:`train` is keyword-only and does everything the ``train`` command does; the CLI only parses arguments and
turns its flags into config overrides. Families are trained according to the model contract
(:mod:`~bilstm_tagger.models.base`): by counting (``fit``) or by gradient (``loss``), told apart in one place,
:func:`train`.

A model that lemmatizes (``lemma`` among the targets, and lemmas in the training file) first trains its lemmatizer
(:mod:`~bilstm_tagger.training.lemmatizer`), which then goes into every directory written. So does the sentence
splitter every model learns from the training file (:class:`~bilstm_tagger.segmentation.SentenceSplitter`), for text
that comes without sentence boundaries; with ``[training] join_unsplit``, a network trains each pair of consecutive
sentences that the splitter would leave together as one sequence, as it will meet them in such text.

After each epoch the output directory is replaced as a whole (:func:`~bilstm_tagger.files.write_directory`) by
one holding the best model on dev so far (mean of the per-target dev accuracies), ``train_log.jsonl`` (one line per
epoch) and a checkpoint of the last finished epoch (:mod:`~bilstm_tagger.training.checkpoint`); a finished run
leaves the model and the log. So a run stopped at any instant keeps its best finished epoch, and the same command
run again on that directory resumes from its last finished epoch. A directory holding anything else (a finished
model, another run's checkpoint, other files) is not touched unless ``overwrite`` is set.

With the same seed, data and thread count on the CPU and no time cap, two runs, or a run stopped and resumed, give
the same weights bit for bit.

Started by ``torchrun``, the same function trains with DistributedDataParallel
(:mod:`~bilstm_tagger.training.distributed`): each process takes its share of every epoch's batches, and rank 0
trains the lemmatizer, scores dev and writes the directory.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from confection import Config
from tqdm.auto import tqdm

from ..corpus import Sentence, read_conllu
from ..errors import BilstmTaggerError, ConfigError, FileError, config_error_text
from ..evaluation.scoring import WordOutcomes, accuracies
from ..files import sha256_file, write_directory
from ..inference.device import resolve_device
from ..inference.options import InferenceOptions
from ..inference.tagger import Tagger
from ..lexicon import training_lexicon
from ..models.base import CountingTagger, TaggerModel, build_model, reads_lexicon
from ..models.batching import length_batches, make_batch
from ..models.neural import NeuralTagger
from ..serialization import (
    LEMMATIZER_FILE, META_FILE, TrainedLemmatizer, TrainedModel, meta_bytes, model_files, read_lemmatizer, read_meta,
)
from ..segmentation import SentenceSplitter
from ..targets import TARGETS
from ..vocab import Vocabularies
from .checkpoint import TrainingState, checkpoint_files, read_checkpoint, restore, run_fingerprint
from .config import LemmatizerSettings, Settings, TrainingSettings
from .distributed import Distribution, data_parallel, join, leave
from .lemmatizer import train_lemmatizer
from .steps import adam, gradient_step, rate_after_stalled_epoch, rate_before_batch, stop_reason

LOG_FILE = "train_log.jsonl"


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    output_dir: Path
    best_epoch: int
    best_dev: Dict[str, Optional[float]]
    epochs: int
    seconds: float
    rank: int = 0
    """This process's rank under torchrun (only rank 0's result has the dev figures)."""
    lexicon: Optional[str] = None
    """Where the model's lexicon came from (:mod:`~bilstm_tagger.lexicon`), None without one."""
    warnings: Tuple[str, ...] = ()
    """What the user should know of the run: a ``max_minutes`` that ended the tagger's or the lemmatizer's training
    before ``max_epochs`` (``meta.json``'s ``stopped``, :func:`~bilstm_tagger.training.steps.stop_reason`)."""


def _dev_scores(tagger: Tagger, dev: Sequence[Sentence]) -> Dict[str, Optional[float]]:
    predicted = tagger.tag([s.forms for s in dev])
    # the accuracies alone: a full report (bootstrap intervals, per-tag tables) would cost seconds every epoch
    scores = accuracies(WordOutcomes(dev, predicted).group()["metrics"], tagger.targets)
    return {name: scores[name] for name in (*(target.metric for target in TARGETS.values()), "alltags")}


def _selection_score(vocabs: Vocabularies, dev: Dict[str, Optional[float]]) -> float:
    """Mean dev accuracy over the trained targets."""
    values = [dev[TARGETS[t].metric] for t in vocabs.targets if dev[TARGETS[t].metric] is not None]
    return sum(values) / len(values) if values else 0.0


def _files_meta(paths: Sequence[Path]) -> List[dict]:
    return [{"name": p.name, "sha256": sha256_file(p)} for p in paths]


def _resume_point(output_dir: Path, fingerprint: str, overwrite: bool):
    """What is in ``output_dir``: None to start afresh, or the checkpoint of an unfinished run of this config and
    data to resume from.

    Raises:
        BilstmTaggerError: when the directory holds anything else and ``overwrite`` is not set.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise FileError(NotADirectoryError(20, "Not a directory"), output_dir, "write a model directory at")
    if overwrite or not output_dir.exists() or not any(output_dir.iterdir()):
        return None
    checkpoint = read_checkpoint(output_dir)
    if checkpoint is not None and checkpoint[0].run == fingerprint:
        return checkpoint
    what = (
        "an unfinished run of another config or data" if checkpoint is not None
        else "a finished model" if (output_dir / META_FILE).is_file()
        else "files that are not a model"
    )
    raise BilstmTaggerError(
        f"{output_dir}: the output directory holds {what}; pass --overwrite to replace it, or choose another "
        "--output (a run of the same config and data that was stopped resumes by itself)"
    )


def train(
    config: Config, *, output_dir: Union[str, Path], progress: bool = True, overwrite: bool = False
) -> TrainResult:
    """Train a tagger and write the best model on dev to ``output_dir``, or resume an unfinished run there.

    Args:
        config: an interpolated config (:func:`~bilstm_tagger.training.config.load_config`) with ``[paths]``,
            ``[system]``, ``[model]`` and ``[training]``.
        output_dir: the model directory to write (created if needed). If it holds an unfinished run of the same
            config and data, training resumes from its last finished epoch.
        progress: show a progress bar.
        overwrite: replace whatever ``output_dir`` holds (at the end of the first epoch, atomically).

    Raises:
        ConfigError: for a config that cannot be used; CorpusError: for unreadable data; BilstmTaggerError: for an
        output directory that holds something else.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process calls this; they train one model with
    DistributedDataParallel, and rank 0 writes it (:mod:`~bilstm_tagger.training.distributed`).
    """
    config = Config(config).copy()
    settings = Settings.from_config(config)
    try:
        torch_device = resolve_device(settings.system.device)
    except BilstmTaggerError as exc:  # CUDA asked for where there is none
        raise ConfigError(f"[system] {exc}") from None

    if settings.system.deterministic and torch_device.type != "cpu":
        raise ConfigError("[system] deterministic = true is for CPU training; on a GPU cuDNN's kernels are not")
    distribution, torch_device = join(torch_device)
    try:
        result = _train(config, settings, torch_device, distribution, Path(output_dir), progress, overwrite)
    except BaseException:
        leave(distribution, wait=False)  # torchrun stops the other ranks
        raise
    leave(distribution)
    return result


def _train(
    config: Config, settings: Settings, torch_device: torch.device, distribution: Distribution, output_dir: Path,
    progress: bool, overwrite: bool,
) -> TrainResult:
    run_seed = settings.system.seed
    progress = progress and distribution.leads
    train_file, dev_file = Path(settings.paths.train), Path(settings.paths.dev)
    train_sentences = read_conllu(train_file)
    dev_sentences = read_conllu(dev_file)
    files_meta = {"train_files": _files_meta([train_file]), "dev_files": _files_meta([dev_file])}
    fingerprint = run_fingerprint(config, files_meta["train_files"][0]["sha256"], files_meta["dev_files"][0]["sha256"])
    resume = _resume_point(output_dir, fingerprint, overwrite)
    training = settings.training
    try:  # only for a family that reads one: an HMM's run builds no million-form table
        lexicon = training_lexicon(training.lexicon, train_file) if reads_lexicon(settings.model) else None
    except ValueError as exc:
        raise ConfigError(f"[training] lexicon: {exc}") from None
    vocabs = Vocabularies.build(
        train_sentences, targets=training.targets, min_freq=training.min_freq, lexicon=lexicon
    )
    wants_lemmas = "lemma" in training.targets and any(w.lemma is not None for s in train_sentences for w in s.words)
    if wants_lemmas and "upos" not in vocabs.targets:
        raise ConfigError(
            f"[training] targets: lemmas are predicted from the word's UPOS, so \"lemma\" needs an annotated "
            f"\"upos\" too (got {list(training.targets)})"
        )
    if not vocabs.targets:
        raise ConfigError(f"{train_file}: none of the targets {list(training.targets)} is annotated")
    lemmatizer, lemmatizer_meta = None, {}
    if wants_lemmas and distribution.leads:  # only rank 0 tags dev and writes the directory
        if resume is not None and (output_dir / LEMMATIZER_FILE).is_file():  # trained before the interruption
            lemmatizer = read_lemmatizer(output_dir, config)
            lemmatizer_meta = read_meta(output_dir).get("lemmatizer", {})
        else:
            with _deterministic(settings.system.deterministic), distribution.leader_threads():
                lemmatizer, lemmatizer_meta = train_lemmatizer(
                    train=train_sentences, dev=dev_sentences, settings=settings.lemmatizer, device=torch_device,
                    seed=run_seed, progress=progress,
                )
    if wants_lemmas:
        # the model directory names the lemmatizer's architecture and settings, defaults included
        config["lemmatizer"] = dataclasses.asdict(settings.lemmatizer)
    splitter = None
    # seconds, deterministic: learnt again when a run resumes, and by every rank that joins what it leaves unsplit
    if distribution.leads or training.join_unsplit:
        splitter = SentenceSplitter.fit([s.forms for s in train_sentences], dev=[s.forms for s in dev_sentences])

    torch.manual_seed(run_seed)
    rng = random.Random(run_seed)
    try:
        model = build_model(settings.model, vocabs)
    except Exception as exc:  # confection's validation, or the family's own checks
        raise ConfigError(f"[model] cannot be built: {config_error_text(exc)}") from None

    run = _Run(
        config=config,
        vocabs=vocabs,
        output_dir=output_dir,
        dev=dev_sentences,
        device=torch_device,
        meta={
            **files_meta, "seed": run_seed, "world_size": distribution.world_size,
            **({"lemmatizer": lemmatizer_meta} if lemmatizer else {}),
            **({"splitter": splitter.summary()} if splitter else {}),
            **({"lexicon": {"source": lexicon.source, "forms": len(lexicon)}} if lexicon is not None else {}),
        },
        fingerprint=fingerprint,
        progress=progress,
        lemmatizer=lemmatizer,
        splitter=splitter,
    )
    stopped = None  # why the network's training ended (a counting model's one pass gives no reason)
    # the one place where the two ways of learning part (see the model contract)
    if isinstance(model, CountingTagger):  # one pass over the data is the whole training, done by rank 0
        if not distribution.leads:
            return dataclasses.replace(run.result(), rank=distribution.rank)
        fit_start = time.perf_counter()
        try:
            model.fit(train_sentences, vocabs.labels)
        except ValueError as error:  # a model the data makes too large to build
            raise ConfigError(f"[model]: {error}") from None
        words = sum(len(s) for s in train_sentences)
        run.end_epoch(model, epoch=1, loss=None, words=words, seconds=time.perf_counter() - fit_start, lr=None)
    else:
        unsplit = _unsplit_pairs(train_sentences, splitter) if training.join_unsplit else []
        if unsplit:  # how much of the training data the setting changed, in meta.json
            run.meta["splitter"]["unsplit_pairs"] = sum(unsplit)
        with _deterministic(settings.system.deterministic):
            stopped = _train_network(model, run, train_sentences, training, rng, resume, distribution, unsplit=unsplit)
        run.finish(stopped)
    if distribution.leads:
        run.save()  # the finished directory: the best model and the log, no checkpoint
    warnings = tuple(
        _cut_short_warning(name, section) for name, section, reason in (
            ("lemmatizer", settings.lemmatizer, lemmatizer_meta.get("stopped")), ("training", training, stopped),
        ) if reason == "max_minutes"
    )
    return dataclasses.replace(run.result(), rank=distribution.rank, warnings=warnings)


def _cut_short_warning(name: str, section: Union[TrainingSettings, LemmatizerSettings]) -> str:
    """What a run whose ``[name] max_minutes`` ended it before ``max_epochs`` tells the user: on a machine slower
    than the config was sized on, the model is not what the config promises."""
    linear = ', before the "linear" schedule had lowered the learning rate to 0' if section.schedule == "linear" else ""
    return (
        f"[{name}] max_minutes = {section.max_minutes:g} stopped the run before max_epochs = {section.max_epochs}"
        f"{linear}; the model is the best of the epochs that ran (meta.json: \"stopped\"). Raise [{name}] "
        f"max_minutes (0: no limit) to train the whole schedule."
    )


@contextlib.contextmanager
def _deterministic(wanted: bool):
    """Torch's deterministic algorithms on while training, when ``wanted``: with several threads some CPU kernels
    sum in an order that changes from run to run, and these fix it (3-7% slower on EWT, bench/RESULTS.md). The
    process's own setting is restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(before or wanted)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


class _Run:
    """Bookkeeping shared by every family: dev scoring, the best model's files, the log, writing the directory."""

    def __init__(
        self,
        *,
        config: Config,
        vocabs: Vocabularies,
        output_dir: Path,
        dev: Sequence[Sentence],
        device: torch.device,
        meta: dict,
        fingerprint: str,
        progress: bool,
        lemmatizer: Optional[TrainedLemmatizer] = None,
        splitter: Optional[SentenceSplitter] = None,
    ) -> None:
        self.config, self.vocabs, self.output_dir, self.dev = config, vocabs, output_dir, dev
        self.device, self.meta, self.fingerprint, self.progress = device, meta, fingerprint, progress
        self.lemmatizer, self.splitter = lemmatizer, splitter
        self.start = time.perf_counter()
        self.best_score, self.best_epoch, self.best_dev = -math.inf, 0, {}
        self.best_files: Dict[str, bytes] = {}  # the best model's directory files, rewritten with each epoch's
        self.log: List[str] = []  # train_log.jsonl's lines
        self.epochs = 0
        self.last_dev: Dict[str, str] = {}  # the previous epoch's dev figures, shown in the progress bar

    @property
    def elapsed(self) -> float:
        """Seconds of training, earlier runs of a resumed one included."""
        return time.perf_counter() - self.start

    def resume(self, state: TrainingState) -> None:
        """Continue the run a checkpoint was written by: its best model (still in the directory), log and clock."""
        self.start = time.perf_counter() - state.elapsed
        self.best_score, self.best_epoch, self.best_dev = state.best_score, state.best_epoch, state.best_dev
        self.epochs = state.epoch
        parts = read_meta(self.output_dir)["parts"]
        self.best_files = {name: (self.output_dir / name).read_bytes() for name in (*parts, META_FILE)}
        self.log = (self.output_dir / LOG_FILE).read_text(encoding="utf-8").splitlines(keepends=True)

    def end_epoch(
        self, model: TaggerModel, *, epoch: int, loss: Optional[float], words: int, seconds: float,
        lr: Optional[float],
    ) -> bool:
        """Score ``model`` on dev, keep its files if it is the best so far, log the epoch; returns whether it
        improved. Nothing is written until :meth:`save`."""
        trained = TrainedModel(config=self.config, vocabs=self.vocabs, model=model, lemmatizer=self.lemmatizer)
        tagger = Tagger(trained, InferenceOptions(device=str(self.device)))
        dev = _dev_scores(tagger, self.dev)
        current = _selection_score(self.vocabs, dev)
        improved = current > self.best_score
        self.epochs = epoch
        self.last_dev = {f"dev_{k}": f"{v:.2f}" for k, v in dev.items() if v is not None and k != "alltags"}
        if improved:
            self.best_score, self.best_epoch, self.best_dev = current, epoch, dev
            self.best_files = model_files(
                config=self.config, vocabs=self.vocabs, model=model,
                meta={**self.meta, "best_epoch": epoch, "best_dev": dev}, lemmatizer=self.lemmatizer,
                splitter=self.splitter,
            )
        record = {
            "epoch": epoch,
            "loss": None if loss is None else round(loss, 6),
            "dev": dev,
            "words": words,
            "train_words_per_second": round(words / max(seconds, 1e-9), 1),
            "seconds": round(self.elapsed, 2),
            "lr": lr,
            "best": improved,
        }
        self.log.append(json.dumps(record) + "\n")
        if self.progress:
            dev_text = " ".join(f"{k}={v:.2f}" for k, v in dev.items() if v is not None)
            loss_text = "" if loss is None else f"  loss {loss:.4f}"
            tqdm.write(
                f"epoch {epoch:>3}{loss_text}  dev {dev_text}  "
                f"{record['train_words_per_second']:.0f} w/s  {'*' if improved else ''}"
            )
        return improved

    def finish(self, stopped: str) -> None:
        """Record in the best model's ``meta.json`` how many epochs the run had and why it ended (the meta was
        written with that model, before either was known)."""
        if META_FILE in self.best_files:
            meta = json.loads(self.best_files[META_FILE])
            meta.update(epochs=self.epochs, stopped=stopped)
            self.best_files[META_FILE] = meta_bytes(meta)

    def save(self, checkpoint: Optional[Dict[str, bytes]] = None) -> None:
        """Replace the output directory by the best model, the log and (for an unfinished run) ``checkpoint``."""
        files = {**self.best_files, LOG_FILE: "".join(self.log).encode("utf-8"), **(checkpoint or {})}
        write_directory(self.output_dir, files)

    def result(self) -> TrainResult:
        return TrainResult(
            output_dir=self.output_dir,
            best_epoch=self.best_epoch,
            best_dev=self.best_dev,
            epochs=self.epochs,
            seconds=self.elapsed,
            lexicon=self.vocabs.lexicon.source if self.vocabs.lexicon is not None else None,
        )


def _unsplit_pairs(sentences: Sequence[Sentence], splitter: Optional[SentenceSplitter]) -> List[bool]:
    """For each pair of consecutive training sentences, whether the sentence splitter would leave them in one
    sequence, as it does to a Doc whose sentences nobody set (none without a splitter)."""
    if splitter is None:
        return []
    return [not splitter.separates(a.forms, b.forms) for a, b in zip(sentences, sentences[1:])]


def _training_sequences(
    sentences: Sequence[Sentence], join: float, rng: random.Random, unsplit: Sequence[bool] = ()
) -> List[Sentence]:
    """A pass's training sequences: the sentences in order, each joined with the next one when ``unsplit`` says
    so for the pair (``unsplit[i]`` for sentences i and i + 1: the sentence splitter would not separate them), else
    with probability ``join`` (a joined pair is one sequence; the words and their labels are the same)."""
    if join <= 0 and not any(unsplit):
        return list(sentences)
    sequences, i = [], 0
    while i < len(sentences):
        if i + 1 < len(sentences) and ((i < len(unsplit) and unsplit[i]) or (join > 0 and rng.random() < join)):
            sequences.append(Sentence(words=sentences[i].words + sentences[i + 1].words))
            i += 2
        else:
            sequences.append(sentences[i])
            i += 1
    return sequences


def _rank_randomness(rng: random.Random, rank: int) -> random.Random:
    """Under torchrun, at the start of each epoch: this rank's word-dropout RNG and torch seed (its dropout masks),
    drawn from ``rng``, which is the same on every rank (it orders the batches). Drawn afresh each epoch from what
    the checkpoint keeps (``rng``, written by rank 0), so that a resumed run draws what the uninterrupted one did;
    the ranks' own generators are not in the checkpoint."""
    seed = rng.getrandbits(63)
    torch.manual_seed(seed + rank)
    return random.Random(f"{seed}:{rank}")


def _train_network(
    model: NeuralTagger,
    run: _Run,
    train_sentences: Sequence[Sentence],
    settings: TrainingSettings,
    rng: random.Random,
    resume=None,
    distribution: Distribution = Distribution(),
    *,
    unsplit: Sequence[bool] = (),
) -> str:
    """The gradient loop: epochs of length-bucketed batches, dev check after each, decay and patience; each
    epoch ends with a checkpoint. ``resume`` is a checkpoint (:func:`read_checkpoint`) to continue from; under
    torchrun, ``distribution`` says which share of the batches is this process's. ``unsplit``: the pairs of
    consecutive sentences trained as one sequence (:func:`_training_sequences`). Returns why the run ended
    (:func:`~bilstm_tagger.training.steps.stop_reason`)."""
    device = run.device
    vocabs = run.vocabs
    model.to(device)
    optimizer = adam(model.parameters(), learning_rate=settings.learning_rate, beta2=settings.beta2)
    # With ema_decay > 0, dev scores and checkpoints use an exponential moving average of the weights, which
    # smooths out the noise of the last updates (Polyak averaging).
    averaged = copy.deepcopy(model) if settings.ema_decay > 0 else model
    step, bad_epochs, first_epoch = 0, 0, 1
    if resume is not None:
        state, arrays = resume
        restore(arrays, model=model, averaged=averaged if averaged is not model else None, optimizer=optimizer,
                state=state, rng=rng)
        run.resume(state)
        step, bad_epochs, first_epoch = state.step, state.bad_epochs, state.epoch + 1
        if run.progress:
            tqdm.write(f"resuming from epoch {state.epoch} ({state.elapsed / 60:.1f} min of training so far)")
    trainer = data_parallel(model, distribution)
    noise_rng = rng  # word dropout's draws; each rank's own under torchrun (_rank_randomness)
    trained_params = list(model.parameters())
    averaged_params = list(averaged.parameters())
    n_train_words = sum(len(s) for s in train_sentences)
    deadline = run.start + 60.0 * settings.max_minutes if settings.max_minutes > 0 else math.inf
    # a resumed run may have ended after its last checkpoint was written, before the directory was finished; a new
    # one trains at least one epoch, so that there is a model to write whatever the cap
    if resume is not None and (stopped := stop_reason(
        settings, epoch=first_epoch - 1, bad_epochs=bad_epochs, finished_epoch=True,
        out_of_time=time.perf_counter() > deadline,
    )):
        return stopped
    # an epoch is whole passes over the data, at least epoch_words words: a small treebank gets as many optimizer
    # steps between two dev checks (and so before patience or max_epochs ends the run) as a large one
    passes = max(1, math.ceil(settings.epoch_words / max(n_train_words, 1)))
    for epoch in range(first_epoch, settings.max_epochs + 1):
        if distribution.active:
            noise_rng = _rank_randomness(rng, distribution.rank)
        model.train()
        epoch_start = time.perf_counter()
        total_loss, seen_words = 0.0, 0
        bar = tqdm(
            total=passes * n_train_words // distribution.world_size, desc=f"epoch {epoch}", unit="w",
            disable=not run.progress, leave=False, dynamic_ncols=True,
        )
        timed_out = False
        batches: List[List[Sentence]] = []
        for _ in range(passes):
            sequences = _training_sequences(train_sentences, settings.join_sentences, rng, unsplit)
            lengths = [len(s) for s in sequences]
            batches += [[sequences[i] for i in b] for b in length_batches(lengths, batch_words=settings.batch_words, rng=rng)]
        if distribution.active and len(batches) < distribution.world_size:
            raise ConfigError(
                f"[training] batch_words = {settings.batch_words} makes {len(batches)} batches per epoch, fewer than "
                f"the {distribution.world_size} training processes: lower batch_words or start fewer processes"
            )
        mine = distribution.share(batches)
        for index, chosen in enumerate(mine):
            rate_before_batch(optimizer, settings, epoch=epoch, batch=index, batches=len(mine))
            batch = make_batch(
                [s.forms for s in chosen], vocabs, labels=chosen, word_dropout=settings.word_dropout, rng=noise_rng
            ).to(device)
            loss = gradient_step(trainer, optimizer, batch, grad_clip=settings.grad_clip)
            step += 1
            if averaged is not model:
                # warm-up (as in TensorFlow's ExponentialMovingAverage) so early averages are not stuck at init
                decay = min(settings.ema_decay, (1.0 + step) / (10.0 + step))
                with torch.no_grad():
                    torch._foreach_lerp_(averaged_params, trained_params, 1.0 - decay)
            total_loss += float(loss) * batch.n_words
            seen_words += batch.n_words
            bar.update(batch.n_words)
            bar.set_postfix(loss=f"{total_loss / seen_words:.4f}", **run.last_dev, refresh=False)
            if distribution.any(time.perf_counter() > deadline, device):  # every rank stops at the same batch
                timed_out = True
                break
        bar.close()
        total_loss, seen_words = distribution.total([total_loss, seen_words], device)
        with distribution.leader_threads():
            improved = distribution.leads and run.end_epoch(
                averaged,
                epoch=epoch,
                loss=total_loss / max(seen_words, 1),
                words=int(seen_words),
                seconds=time.perf_counter() - epoch_start,
                lr=optimizer.param_groups[0]["lr"],
            )
        improved = bool(distribution.from_leader([improved], device)[0])
        if improved:
            bad_epochs = 0
        else:
            bad_epochs += 1
            rate_after_stalled_epoch(optimizer, settings)
        stopped = stop_reason(settings, epoch=epoch, bad_epochs=bad_epochs, out_of_time=timed_out,
                              finished_epoch=not timed_out or index == len(mine) - 1)
        if stopped:
            return stopped  # train() writes the finished directory
        if not distribution.leads:
            continue
        state = TrainingState(
            run=run.fingerprint, epoch=epoch, step=step, bad_epochs=bad_epochs, elapsed=run.elapsed,
            best_score=run.best_score, best_epoch=run.best_epoch, best_dev=run.best_dev,
            python_rng=list(rng.getstate()), optimizer_groups=optimizer.state_dict()["param_groups"],
        )
        run.save(checkpoint_files(state, model=model, averaged=averaged if averaged is not model else None,
                                  optimizer=optimizer))
    return "max_epochs"
