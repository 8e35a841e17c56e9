"""Give a model directory trained before vocab.json recorded (UPOS, tag) pairs the pairs of its training file, so
that it tags with consistent tags (``bilstm_tagger.models.tag_pairs``): what ``train`` writes today, weights and
everything else unchanged.

The vocabularies are built again from the training file, exactly as ``train`` builds them; unless they equal the
directory's own (words, characters, labels, training forms), nothing is written. The file must be the one
``meta.json`` names (same sha256). The directory is rewritten as a whole (``train_log.jsonl`` kept).

Usage (from the repository root):

    .venv/bin/python bench/add_tag_pairs.py bench/out/ud/en_ewt/bilstm --train ../shared/ud/en_ewt/en_ewt-ud-train.conllu
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the trained model directory")
    parser.add_argument("--train", type=Path, required=True, help="its training file")
    args = parser.parse_args(argv)

    from bilstm_tagger.corpus import read_conllu
    from bilstm_tagger.files import sha256_file, write_directory
    from bilstm_tagger.serialization import model_files, read_model
    from bilstm_tagger.training.config import Settings
    from bilstm_tagger.vocab import Vocabularies

    trained = read_model(args.model)
    recorded = [f["sha256"] for f in trained.meta.get("train_files", [])]
    if recorded != [sha256_file(args.train)]:
        sys.exit(f"{args.train}: not the training file {args.model}/meta.json names")
    training = Settings.from_config(trained.config).training
    rebuilt = Vocabularies.build(read_conllu(args.train), targets=training.targets, min_freq=training.min_freq)
    own, new = trained.vocabs.to_dict(), rebuilt.to_dict()
    own.pop("tag_pairs"), new.pop("tag_pairs")
    if own != new:
        sys.exit(f"{args.model}: its vocabularies differ from those {args.train} gives; nothing written")
    trained.vocabs.tag_pairs = rebuilt.tag_pairs
    files = model_files(
        config=trained.config, vocabs=trained.vocabs, model=trained.model, meta=trained.meta,
        lemmatizer=trained.lemmatizer,
    )
    log = args.model / "train_log.jsonl"
    if log.is_file():
        files["train_log.jsonl"] = log.read_bytes()
    write_directory(args.model, files)
    print(f"{args.model}: pairs " + ", ".join(f"{t} {len(p)}" for t, p in rebuilt.tag_pairs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
