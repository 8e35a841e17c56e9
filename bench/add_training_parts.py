"""Give a model directory trained before ``train`` wrote them the parts it now derives from the training and dev
files alone: the (UPOS, tag) pairs of ``vocab.json`` (consistent tags, ``bilstm_tagger.models.tag_pairs``),
``splitter.json`` (the sentence splitter, ``bilstm_tagger.segmentation``) and the (form, UPOS, FEATS) lemmas of
``lemmatizer.json`` (``LemmaVocabularies.feats_dictionary``). Weights and everything else unchanged: what ``train``
writes today.

The vocabularies are built again from the training file, exactly as ``train`` builds them; unless they equal the
directory's own (words, characters, labels, training forms), nothing is written. The files must be the ones
``meta.json`` names (same sha256). The directory is rewritten as a whole (``train_log.jsonl`` kept).

Usage (from the repository root):

    .venv/bin/python bench/add_training_parts.py bench/out/ud/en_ewt/bilstm \\
        --train ../shared/ud/en_ewt/en_ewt-ud-train.conllu --dev ../shared/ud/en_ewt/en_ewt-ud-dev.conllu
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
    parser.add_argument("--dev", type=Path, required=True, help="its dev file")
    args = parser.parse_args(argv)

    from bilstm_tagger.corpus import read_conllu
    from bilstm_tagger.files import sha256_file, write_directory
    from bilstm_tagger.segmentation import SentenceSplitter
    from bilstm_tagger.serialization import model_files, read_model
    from bilstm_tagger.training.config import Settings
    from bilstm_tagger.vocab import LemmaVocabularies, Vocabularies

    trained = read_model(args.model)
    for key, path in (("train_files", args.train), ("dev_files", args.dev)):
        if [f["sha256"] for f in trained.meta.get(key, [])] != [sha256_file(path)]:
            sys.exit(f"{path}: not the file {args.model}/meta.json names in {key}")
    training = Settings.from_config(trained.config).training
    train, dev = read_conllu(args.train), read_conllu(args.dev)
    rebuilt = Vocabularies.build(train, targets=training.targets, min_freq=training.min_freq)
    own, new = trained.vocabs.to_dict(), rebuilt.to_dict()
    own.pop("tag_pairs"), new.pop("tag_pairs")
    if own != new:
        sys.exit(f"{args.model}: its vocabularies differ from those {args.train} gives; nothing written")
    trained.vocabs.tag_pairs = rebuilt.tag_pairs
    if trained.lemmatizer is not None:
        lemma_vocabs = LemmaVocabularies.build(train)
        own, new = trained.lemmatizer.vocabs.to_dict(), lemma_vocabs.to_dict()
        own.pop("feats_dictionary", None), new.pop("feats_dictionary")
        if own != new:
            sys.exit(f"{args.model}: its lemmatizer's vocabularies differ from those {args.train} gives; nothing written")
        trained.lemmatizer.vocabs.feats_dictionary = lemma_vocabs.feats_dictionary
    splitter = SentenceSplitter.fit([s.forms for s in train], dev=[s.forms for s in dev])
    meta = dict(trained.meta)
    if splitter is not None:
        meta["splitter"] = splitter.summary()
    files = model_files(
        config=trained.config, vocabs=trained.vocabs, model=trained.model, meta=meta,
        lemmatizer=trained.lemmatizer, splitter=splitter,
    )
    log = args.model / "train_log.jsonl"
    if log.is_file():
        files["train_log.jsonl"] = log.read_bytes()
    write_directory(args.model, files)
    pairs = ", ".join(f"{t} {len(p)}" for t, p in rebuilt.tag_pairs.items())
    feats_lemmas = len(trained.lemmatizer.vocabs.feats_dictionary) if trained.lemmatizer is not None else 0
    print(f"{args.model}: pairs {pairs}; splitter {meta.get('splitter')}; (form, UPOS, FEATS) lemmas {feats_lemmas}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
