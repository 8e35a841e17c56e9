"""Training the lemmatizer, before the tagger, in the same ``train`` command.

The lemmatizer learns from every distinct (form, UPOS, lemma) of the training file, with the gold UPOS, as Stanza's
does; at inference it reads the tagger's predicted UPOS. An "epoch" is at least ``epoch_forms`` examples (several
passes over a small treebank's few thousand), so that dev checks, patience and learning-rate decay come at the same
pace of optimizer steps whatever the treebank's size. After each epoch the lemmas of the dev words (gold UPOS,
dictionary first, as at inference) are scored; the best epoch's weights are kept.
"""

from __future__ import annotations

import math
import random
import time
from typing import List, Optional, Sequence, Tuple

import torch
from tqdm.auto import tqdm

from ..corpus import Sentence
from ..errors import ConfigError, config_error_text
from ..inference.lemmatization import Lemmatization
from ..models.base import build_model
from ..models.lemmatizer import make_lemma_batch
from ..serialization import TrainedLemmatizer
from ..vocab import LemmaVocabularies
from .config import LemmatizerSettings
from .steps import adam, gradient_step, rate_after_stalled_epoch, rate_before_batch, stop_reason


def dev_lemma_accuracy(lemmatizer: TrainedLemmatizer, dev: Sequence[Sentence], device: torch.device) -> float:
    """Percentage of dev words with a gold UPOS and lemma whose lemma is right, given the gold UPOS and FEATS."""
    words = [word for sentence in dev for word in sentence.words if word.upos is not None and word.lemma is not None]
    if not words:
        return 0.0
    predicted = Lemmatization(lemmatizer, device).lemmatize(
        [w.form for w in words], [w.upos for w in words], [w.feats for w in words]
    )
    return 100.0 * sum(p == w.lemma for p, w in zip(predicted, words)) / len(words)


def _length_batches(order: List[int], examples, size: int, rng: random.Random) -> List[List[int]]:
    """Batches of ``size`` examples from ``order``, sorted by length within windows of 50 batches (less padding,
    about half the time of random batches), in random order."""
    window = 50 * size
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(examples[i][0]) + len(examples[i][2]))
        batches += [chunk[k : k + size] for k in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


def train_lemmatizer(
    *,
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    settings: LemmatizerSettings,
    device: torch.device,
    seed: int,
    progress: bool,
) -> Tuple[Optional[TrainedLemmatizer], dict]:
    """Train a lemmatizer on ``train``'s lemmas, selecting on ``dev``.

    Returns:
        The lemmatizer with its best dev weights (None when no training word has both a UPOS and a lemma), and a
        summary for ``meta.json`` (best epoch, its dev accuracy, epochs, why it stopped, seconds).

    Raises:
        ConfigError: for a ``[lemmatizer.model]`` that cannot be built.
    """
    vocabs = LemmaVocabularies.build(train)
    if not vocabs:
        return None, {}
    torch.manual_seed(seed)
    rng = random.Random(seed)
    try:
        model = build_model(settings.model, vocabs).to(device)
    except Exception as exc:  # confection's validation
        raise ConfigError(f"[lemmatizer.model] cannot be built: {config_error_text(exc)}") from None
    trained = TrainedLemmatizer(vocabs=vocabs, model=model)
    optimizer = adam(model.parameters(), learning_rate=settings.learning_rate)
    examples = vocabs.examples
    per_epoch = max(len(examples), settings.epoch_forms)
    start = time.perf_counter()
    deadline = start + 60.0 * settings.max_minutes if settings.max_minutes > 0 else math.inf
    best_accuracy, best_epoch, best_arrays, bad_epochs, epoch, stopped = -1.0, 0, None, 0, 0, "max_epochs"
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        order: List[int] = []
        while len(order) < per_epoch:  # whole shuffled passes, so every example is seen as often as the others
            chunk = list(range(len(examples)))
            rng.shuffle(chunk)
            order.extend(chunk)
        total, seen = 0.0, 0
        bar = tqdm(total=len(order), desc=f"lemmatizer epoch {epoch}", unit="form", disable=not progress, leave=False)
        batches = _length_batches(order, examples, settings.batch_forms, rng)
        for index, indices in enumerate(batches):
            rate_before_batch(optimizer, settings, epoch=epoch, batch=index, batches=len(batches))
            chosen = [examples[i] for i in indices]
            batch = make_lemma_batch(
                [form for form, _, _ in chosen], [upos for _, upos, _ in chosen], vocabs,
                lemmas=[lemma for _, _, lemma in chosen],
            ).to(device)
            loss = gradient_step(model, optimizer, batch, grad_clip=settings.grad_clip)
            total += float(loss) * len(chosen)
            seen += len(chosen)
            bar.update(len(chosen))
        bar.close()
        accuracy = dev_lemma_accuracy(trained, dev, device)
        improved = accuracy > best_accuracy
        if improved:
            best_accuracy, best_epoch, best_arrays, bad_epochs = accuracy, epoch, model.to_arrays(), 0
        else:
            bad_epochs += 1
            rate_after_stalled_epoch(optimizer, settings)
        if progress:
            tqdm.write(
                f"lemmatizer epoch {epoch:>3}  loss {total / max(seen, 1):.4f}  dev lemma={accuracy:.2f} (gold UPOS)"
                f"  {'*' if improved else ''}"
            )
        stopped = stop_reason(settings, epoch=epoch, bad_epochs=bad_epochs, finished_epoch=True,
                              out_of_time=time.perf_counter() > deadline)
        if stopped:
            break
    model.load_arrays(best_arrays)
    summary = {
        "best_epoch": best_epoch,
        "best_dev_lemma_gold_upos": round(best_accuracy, 4),
        "epochs": epoch,
        "stopped": stopped,
        "seconds": round(time.perf_counter() - start, 2),
        "training_examples": len(examples),
    }
    return trained, summary
