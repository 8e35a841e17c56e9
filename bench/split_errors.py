"""Where a Doc without sentence boundaries loses UPOS (or XPOS, ``--target xpos``): a gold file's sentences joined in
runs (as ``spacy convert -n 10`` makes Docs), split by the model's learnt splitter, tagged, and compared word by word
with each sentence tagged alone. Each word whose tag changed counts as worse or better, by what the splitter did to
its sentence: split inside it, its start or its end missed, or nothing (gold words, so tokenization plays no part).

Usage (from the repository root; choose on dev, not test):

    .venv/bin/python bench/split_errors.py bench/out/ud/en_ewt/bilstm ../shared/ud/en_ewt/en_ewt-ud-dev.conllu
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a model directory with splitter.json")
    parser.add_argument("gold", type=Path, help="a gold CoNLL-U file")
    parser.add_argument("--run", type=int, default=10, help="sentences per run (spacy convert -n)")
    parser.add_argument("--examples", type=int, default=8, help="words shown per kind")
    parser.add_argument("--target", choices=("upos", "xpos"), default="upos", help="the column compared")
    args = parser.parse_args(argv)

    from bilstm_tagger import InferenceOptions, load_model, read_conllu

    tagger = load_model(args.model, InferenceOptions(lemmatize=False))
    splitter = tagger.trained.splitter
    if splitter is None:
        parser.error(f"{args.model} has no splitter.json")
    gold = read_conllu(args.gold)
    target = args.target
    alone = [tags[target] for tags in tagger.tag([s.forms for s in gold])]
    counts: collections.Counter = collections.Counter()
    examples = collections.defaultdict(list)
    n_words = sum(len(s) for s in gold)
    for first in range(0, len(gold), args.run):
        run = gold[first : first + args.run]
        words = [form for sentence in run for form in sentence.forms]
        spans = splitter.spans(words)
        cuts = {start for start, _ in spans}
        joined = [tag for tags in tagger.tag([words[a:b] for a, b in spans]) for tag in tags[target]]
        start = 0
        for k, sentence in enumerate(run):
            end = start + len(sentence)
            kinds = [
                name for name, happened in (
                    ("start missed", k > 0 and start not in cuts),
                    ("end missed", k + 1 < len(run) and end not in cuts),
                    ("split inside", any(start < cut < end for cut in cuts)),
                ) if happened
            ]
            kind = " + ".join(kinds) or "split right"
            for j, word in enumerate(sentence.words):
                right = getattr(word, target)
                before, after = alone[first + k][j] == right, joined[start + j] == right
                if before != after:
                    counts[kind, "worse" if before else "better"] += 1
                    examples[kind].append(f"{word.form} ({right}: {alone[first + k][j]} -> {joined[start + j]})")
            start = end
    worse = sum(v for (_, way), v in counts.items() if way == "worse")
    better = sum(v for (_, way), v in counts.items() if way == "better")
    print(f"{n_words} words; {target.upper()} changed: {worse} worse, {better} better "
          f"({100 * (worse - better) / n_words:.3f} points)")
    for kind in sorted({kind for kind, _ in counts}):
        print(f"  {kind}: {counts[kind, 'worse']} worse / {counts[kind, 'better']} better; "
              f"e.g. {', '.join(examples[kind][: args.examples])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
