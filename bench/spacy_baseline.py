"""Train spaCy's own pipeline on a UD treebank: the baseline that ``bench/speed.py`` races (tagger+morphologizer)
and that ``bench/ud.py`` scores (tagger+morphologizer+trainable_lemmatizer).

Usage (from the repository root, after `make venv`):

    .venv/bin/python bench/spacy_baseline.py --treebank en_ewt --output bench/out/spacy-en_ewt

Steps, each one spaCy's own command so that the baseline is what a spaCy user would get:
``spacy convert`` (CoNLL-U to .spacy, gold UD words: no ``--merge-subtokens``), ``spacy init config --pipeline
PIPELINE --optimize efficiency`` (``--pipeline``, default ``tagger,morphologizer``), ``spacy train``. The trained pipeline is ``OUTPUT/model-best``.
Treebanks are read from ``../shared/ud`` (``--ud``); when they are missing the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(command: list, log) -> None:
    print("$ " + shlex.join(command), file=log, flush=True)
    subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)


def train_spacy(
    *, train: Path, dev: Path, output: Path, lang: str = "en", pipeline: str = "tagger,morphologizer"
) -> Path:
    """Convert, configure and train; returns the ``model-best`` directory. Writes ``OUTPUT/train.log`` and
    ``OUTPUT/training.json`` (the commands and the wall time of ``spacy train``)."""
    output.mkdir(parents=True, exist_ok=True)
    corpus = output / "corpus"
    corpus.mkdir(exist_ok=True)
    spacy = [sys.executable, "-m", "spacy"]
    commands = []
    with open(output / "train.log", "w") as log:
        for path in (train, dev):
            command = spacy + ["convert", str(path), str(corpus), "--converter", "conllu", "-n", "10"]
            run(command, log)
            commands.append(command)
        config = output / "config.cfg"
        command = spacy + ["init", "config", str(config), "--lang", lang,
                           "--pipeline", pipeline, "--optimize", "efficiency", "--force"]
        run(command, log)
        commands.append(command)
        command = spacy + ["train", str(config), "--output", str(output),
                           "--paths.train", str(corpus / (train.stem + ".spacy")),
                           "--paths.dev", str(corpus / (dev.stem + ".spacy"))]
        start = time.perf_counter()
        run(command, log)
        minutes = (time.perf_counter() - start) / 60
        commands.append(command)
    record = {"commands": [shlex.join(c) for c in commands], "train_minutes": round(minutes, 1)}
    (output / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return output / "model-best"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--treebank", default="en_ewt")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--pipeline", default="tagger,morphologizer", help="spaCy components, comma-separated")
    args = parser.parse_args(argv)
    folder = args.ud / args.treebank
    train = folder / f"{args.treebank}-ud-train.conllu"
    dev = folder / f"{args.treebank}-ud-dev.conllu"
    if not train.exists():
        print(f"skipped: {train} not found (the UD treebanks live in ../shared/ud)")
        return 0
    best = train_spacy(train=train, dev=dev, output=args.output, lang=args.lang, pipeline=args.pipeline)
    print(f"trained {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
