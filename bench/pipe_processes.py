"""``nlp.pipe(texts, n_process=N)`` with our component against spaCy's own pipeline, on about a million words.

Usage (from the repository root, after `make venv` and `make bench-ud`, which trains both EWT pipelines):

    .venv/bin/python bench/pipe_processes.py --ours bench/out/ud/en_ewt/bilstm \\
        --spacy bench/out/ud/en_ewt/spacy/model-best --copies 5 --processes 1 2

The texts are EWT train's sentences as raw text (one text per sentence, spaCy's tokenizer), repeated ``--copies``
times (5: 1.02M words). Each system and process count runs in its own Python process, so no run inherits another's
state; the figure is words (tokens spaCy made) per second of the whole ``nlp.pipe`` pass, workers' start-up included.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(system: str, path: str, processes: int, copies: int) -> dict:
    """Run in a fresh process: load the pipeline, tag the texts once, time it."""
    import spacy

    from bilstm_tagger.corpus import read_conllu

    if system == "spacy":
        nlp = spacy.load(path)
    else:
        nlp = spacy.blank("en")
        nlp.add_pipe("bilstm_tagger", config={"model": path})
    texts = [" ".join(s.forms) for s in read_conllu(ROOT.parent / "shared/ud/en_ewt/en_ewt-ud-train.conllu")] * copies
    start = time.perf_counter()
    words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=1000, n_process=processes))
    seconds = time.perf_counter() - start
    return {"system": system, "processes": processes, "words": words, "seconds": round(seconds, 1),
            "words_per_second": round(words / seconds)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours", required=True, help="our model directory")
    parser.add_argument("--spacy", required=True, help="spaCy's trained pipeline (model-best)")
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--measure", nargs=3, metavar=("SYSTEM", "PATH", "PROCESSES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        system, path, processes = args.measure
        print(json.dumps(measure(system, path, int(processes), args.copies)))
        return 0
    for system, path in (("bilstm-tagger", args.ours), ("spacy", args.spacy)):
        for processes in args.processes:
            command = [sys.executable, __file__, "--ours", args.ours, "--spacy", args.spacy, "--copies",
                       str(args.copies), "--measure", system, path, str(processes)]
            print(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
