"""Torch threads on a machine that may be busy: the library tags the first 6,000 sentences of EWT train once (after
a warm-up on 500 dev sentences), idle or with a busy-loop process started here, with N torch threads.

Usage (the OpenMP settings must be in the environment before torch starts):

    .venv/bin/python bench/busy_threads.py --model bench/out/ud/en_ewt/bilstm --threads 2 [--busy] [--fixed-threads]
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/busy_threads.py --model ... --threads 2 --busy --fixed-threads
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="a busy-loop process runs while tagging")
    parser.add_argument("--fixed-threads", action="store_true", help="InferenceOptions(adapt_threads=False)")
    args = parser.parse_args()

    import torch

    from bilstm_tagger import InferenceOptions, load_model, read_conllu

    torch.set_num_threads(args.threads)
    tagger = load_model(args.model, InferenceOptions(adapt_threads=not args.fixed_threads))
    ud = ROOT.parent / "shared" / "ud" / "en_ewt"
    tagger.tag([s.forms for s in read_conllu(ud / "en_ewt-ud-dev.conllu")][:500])
    corpus = [s.forms for s in read_conllu(ud / "en_ewt-ud-train.conllu")][:6000]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        start = time.perf_counter()
        tagger.tag(corpus)
        seconds = time.perf_counter() - start
    finally:
        if busy is not None:
            busy.kill()
    settings = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ}
    adapt = "fixed" if args.fixed_threads else "adapting"
    print(f"threads={args.threads} {adapt} busy={args.busy} {settings} {round(sum(map(len, corpus)) / seconds)} words/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
