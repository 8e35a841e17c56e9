"""``predict --ray``'s library function, :func:`bilstm_tagger.ray_tagging.tag_shards`, with 1 actor and with 2, on
a local Ray cluster of this machine's CPUs, and one process with one torch thread (``predict``) for reference.

Usage (from the repository root, after `make venv` and `make bench-ud`, which trains the EWT model):

    .venv/bin/python bench/ray_actors.py --model bench/out/ud/en_ewt/bilstm --copies 5 --shards 10

The corpus is EWT train as pre-tokenized text (one sentence per line), repeated ``--copies`` times (5: 1.02M words)
and cut into ``--shards`` files. Each figure is words per second of the whole call: the actors' start-up and model
loading included, as a user waits for them. The outputs of every run are checked to be the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_shards(directory: Path, copies: int, shards: int) -> int:
    from bilstm_tagger.corpus import read_conllu

    lines = [" ".join(s.forms) for s in read_conllu(ROOT.parent / "shared/ud/en_ewt/en_ewt-ud-train.conllu")] * copies
    per_shard = -(-len(lines) // shards)
    directory.mkdir(parents=True)
    for k in range(shards):
        (directory / f"part-{k:03d}.txt").write_text("\n".join(lines[k * per_shard : (k + 1) * per_shard]) + "\n")
    return sum(len(line.split(" ")) for line in lines)


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="our model directory")
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)

    import ray
    import torch

    from bilstm_tagger import load_model
    from bilstm_tagger.inference.prediction import predict_file
    from bilstm_tagger.ray_tagging import tag_shards

    work = Path(tempfile.mkdtemp(prefix="ray_actors-"))
    words = write_shards(work / "in", args.copies, args.shards)
    results, digests = [], set()
    # one process, one torch thread: the single-process reference (predict_file is what `predict` runs)
    out = work / "single"
    out.mkdir()
    start = time.perf_counter()
    torch.set_num_threads(1)
    tagger = load_model(args.model)
    for shard in sorted((work / "in").iterdir()):
        predict_file(tagger, input_path=shard, output_path=out / (shard.stem + ".conllu"))
    seconds = time.perf_counter() - start
    results.append({"run": "1 process, 1 thread", "words": words, "seconds": round(seconds, 1),
                    "words_per_second": round(words / seconds)})
    digests.add(digest(out))
    del tagger

    ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    for actors in args.actors:
        out = work / f"ray-{actors}"
        start = time.perf_counter()
        tag_shards(model_dir=args.model, input_dir=work / "in", output_dir=out, actors=actors, num_cpus=1)
        seconds = time.perf_counter() - start
        results.append({"run": f"Ray, {actors} actor(s) of 1 CPU", "words": words, "seconds": round(seconds, 1),
                        "words_per_second": round(words / seconds)})
        digests.add(digest(out))
    ray.shutdown()
    for result in results:
        print(json.dumps(result))
    print(json.dumps({"outputs_identical": len(digests) == 1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
