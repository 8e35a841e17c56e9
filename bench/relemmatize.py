"""Retrain only the lemmatizer of a trained model directory, with a config's ``[lemmatizer]`` section, into a new
directory: what ``train`` with that config would have written, without training the tagger again.

``train`` trains the lemmatizer first and then reseeds for the tagger, and the tagger's training never reads the
lemmatizer, so a tagger trained with an older ``[lemmatizer]`` is the tagger a new run of the same ``[model]``
and ``[training]`` would train (up to the run-to-run noise of multi-threaded CPU kernels).

Usage (from the repository root):

    .venv/bin/python bench/relemmatize.py bench/out/ud/en_ewt/bilstm --config configs/bilstm.cfg \\
        --train ../shared/ud/en_ewt/en_ewt-ud-train.conllu --dev ../shared/ud/en_ewt/en_ewt-ud-dev.conllu \\
        --output bench/out/ud/en_ewt/bilstm-v2
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the trained model directory (its tagger is kept)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bilstm.cfg", help="its [lemmatizer] is used")
    parser.add_argument("--train", type=Path, required=True, help="the model's training file")
    parser.add_argument("--dev", type=Path, required=True, help="the model's dev file")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)

    import torch

    from bilstm_tagger.corpus import read_conllu
    from bilstm_tagger.serialization import read_model, save_model
    from bilstm_tagger.training.config import Settings, load_config
    from bilstm_tagger.training.lemmatizer import train_lemmatizer

    trained = read_model(args.model)
    settings = Settings.from_config(
        load_config(args.config, overrides={"paths.train": str(args.train), "paths.dev": str(args.dev)})
    )
    seed = int(trained.config["system"]["seed"])
    lemmatizer, summary = train_lemmatizer(
        train=read_conllu(args.train), dev=read_conllu(args.dev), settings=settings.lemmatizer,
        device=torch.device("cpu"), seed=seed, progress=True,
    )
    config = trained.config.copy()
    config["lemmatizer"] = dataclasses.asdict(settings.lemmatizer)
    save_model(args.output, config=config, vocabs=trained.vocabs, model=trained.model,
               meta={**trained.meta, "lemmatizer": summary}, lemmatizer=lemmatizer,
               splitter=trained.splitter)
    print(f"lemmatizer {summary}; written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
