"""Inference options of one BiLSTM model, each with its speed beside its accuracy: the speed issue's "try int8 and
keep what wins".

Usage (from the repository root, after `make venv`):

    .venv/bin/python bench/options.py bench/out/en_ewt-bilstm-h128 [more model directories]

For each model directory and option it tags EWT dev and test through the library (``Tagger.tag_ids``, one thread,
form cache warm: the median of 5 passes after a warm-up) and scores UPOS / XPOS / UFeats. Options:

- ``fp32``: the shipped CPU path (first-layer projections cached per form, step-by-step recurrence);
- ``fp32 nn.LSTM``: the same weights through ``nn.LSTM`` (the path GPUs and autocast take; ``cached_projections =
  false``);
- ``bf16``: ``precision = "bf16"`` (autocast; fast on CPUs with bf16 matrix units such as AMX, slow elsewhere);
- ``int8``: ``precision = "int8"``, ``torch.ao.quantization.quantize_dynamic`` of the LSTM and linear layers.

Prints a Markdown table; chooses nothing (choose on dev).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bilstm_tagger import InferenceOptions, load_model, read_conllu  # noqa: E402

UD = ROOT.parent / "shared" / "ud" / "en_ewt"


def accuracy(tagger, sentences) -> dict:
    predicted = tagger.tag([s.forms for s in sentences])
    totals = {"upos": 0, "xpos": 0, "feats": 0}
    n = 0
    for sentence, tags in zip(sentences, predicted):
        for i, word in enumerate(sentence.words):
            n += 1
            for target in totals:
                totals[target] += tags[target][i] == getattr(word, target)
    return {k: round(100.0 * v / n, 2) for k, v in totals.items()}


def words_per_second(tagger, sentences, repeats: int = 5) -> float:
    forms = [s.forms for s in sentences]
    n = sum(len(f) for f in forms)
    tagger.tag_ids(forms)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        tagger.tag_ids(forms)
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


OPTIONS = {
    "fp32": InferenceOptions(),
    "fp32 nn.LSTM": InferenceOptions(cached_projections=False),
    "bf16": InferenceOptions(precision="bf16"),
    "int8": InferenceOptions(precision="int8"),
}


def options(model_dir: Path):
    for name, settings in OPTIONS.items():
        yield name, load_model(model_dir, settings)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not (UD / "en_ewt-ud-test.conllu").exists():
        print(f"skipped: {UD} not found")
        return 0
    torch.set_num_threads(1)
    dev = read_conllu(UD / "en_ewt-ud-dev.conllu")
    test = read_conllu(UD / "en_ewt-ud-test.conllu")
    print("| model | option | dev UPOS | dev XPOS | dev UFeats | test UPOS | test XPOS | test UFeats | words/s (1 thread) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model_dir in map(Path, argv):
        for name, tagger in options(model_dir):
            d, t = accuracy(tagger, dev), accuracy(tagger, test)
            speed = words_per_second(tagger, test)
            print(f"| {model_dir.name} | {name} | {d['upos']:.2f} | {d['xpos']:.2f} | {d['feats']:.2f} | "
                  f"{t['upos']:.2f} | {t['xpos']:.2f} | {t['feats']:.2f} | {speed:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
