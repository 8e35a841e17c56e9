"""Whole documents as raw text through spaCy, against one sentence per Doc: what a user who runs ``nlp(text)`` on
a web page, an e-mail or a review gets. A gold file's documents (``# newdoc``) and paragraphs (``# newpar``) are
written out as text in several layouts, each run through ``nlp.pipe`` (spaCy's tokenizer, then the pipeline), and
every gold word is scored on the token that spans its characters exactly (a word the tokenizer cut otherwise
counts as wrong, in every layout alike). Only EWT of our treebanks marks paragraphs.

Usage (from the repository root; choose on dev, not test):

    .venv/bin/python bench/documents.py ../shared/ud/en_ewt/en_ewt-ud-dev.conllu \\
        --ours bench/out/ud/en_ewt/bilstm --spacy bench/out/ud/en_ewt/spacy/model-best
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Layouts of a document: (separator between paragraphs, between sentences of a paragraph, wrap column or None).
LAYOUTS = {
    "one sentence per Doc": None,
    "paragraphs apart by a blank line": ("\n\n", " ", None),
    "the same, wrapped at 80 columns": ("\n\n", " ", 80),
    "one paragraph per line": ("\n", " ", None),
    "the whole document on one line": (" ", " ", None),
}

Span = Tuple[int, int, Dict[str, str]]


def documents(sentences) -> List[List[list]]:
    """Sentences grouped into documents of paragraphs, by the ``# newdoc`` and ``# newpar`` comments."""
    docs: List[List[list]] = []
    for sentence in sentences:
        comments = [line for line in sentence.lines if line.startswith("#")]
        if not docs or any(line.startswith("# newdoc") for line in comments):
            docs.append([[]])
        elif any(line.startswith("# newpar") for line in comments):
            docs[-1].append([])
        docs[-1][-1].append(sentence)
    return docs


def _space_after(sentence, k: int) -> bool:
    misc = sentence.lines[sentence.word_lines[k]].rstrip("\r\n").split("\t")[9]
    return "SpaceAfter=No" not in misc.split("|")


def _wrapped(text: str, width: int) -> str:
    """Spaces turned into line breaks so that no line is longer than ``width`` (where a space allows): the same
    length, so gold offsets stay."""
    chars, column, last_space = list(text), 0, None
    for i, char in enumerate(chars):
        if char == " ":
            last_space = i
        column += 1
        if column > width and last_space is not None:
            chars[last_space] = "\n"
            column, last_space = i - last_space, None
    return "".join(chars)


def render(paragraphs, paragraph_sep: str, sentence_sep: str, wrap) -> Tuple[str, List[Span]]:
    """A document's text and each gold word's (start, end, gold tags)."""
    text, spans = "", []
    for p, paragraph in enumerate(paragraphs):
        if p:
            text += paragraph_sep
        part, part_spans = "", []
        for k, sentence in enumerate(paragraph):
            if k:
                part += sentence_sep
            for j, word in enumerate(sentence.words):
                part_spans.append((len(part), len(part) + len(word.form),
                                   {"upos": word.upos, "xpos": word.xpos, "lemma": word.lemma}))
                part += word.form
                if j + 1 < len(sentence.words) and _space_after(sentence, j):
                    part += " "
        spans += [(a + len(text), b + len(text), tags) for a, b, tags in part_spans]
        text += _wrapped(part, wrap) if wrap else part
    return text, spans


def score(nlp, texts: List[Tuple[str, List[Span]]]) -> Dict[str, float]:
    """UPOS / XPOS / lemma accuracy (%) over every gold word, by exact character span."""
    right = {"upos": 0, "xpos": 0, "lemma": 0}
    totals = {"upos": 0, "xpos": 0, "lemma": 0}
    for doc, (_, spans) in zip(nlp.pipe(text for text, _ in texts), texts):
        tokens = {(t.idx, t.idx + len(t.text)): t for t in doc}
        for start, end, gold in spans:
            token = tokens.get((start, end))
            predicted = {"upos": token.pos_, "xpos": token.tag_, "lemma": token.lemma_} if token is not None else {}
            for key, value in gold.items():
                if value is not None:
                    totals[key] += 1
                    right[key] += predicted.get(key) == value
    return {key: round(100 * right[key] / totals[key], 2) if totals[key] else float("nan") for key in right}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gold", type=Path, help="a gold CoNLL-U file with # newdoc / # newpar comments")
    parser.add_argument("--ours", type=Path, help="our model directory")
    parser.add_argument("--spacy", type=Path, help="a spaCy pipeline directory (its own tagger, for comparison)")
    args = parser.parse_args(argv)
    if not args.gold.is_file():
        print(f"skipped: {args.gold} not found")
        return 0

    import spacy

    from bilstm_tagger import read_conllu

    docs = documents(read_conllu(args.gold))
    print(f"{args.gold.name}: {len(docs)} documents, {sum(len(d) for d in docs)} paragraphs")
    systems = {}
    if args.ours:
        nlp = spacy.blank("en")
        nlp.add_pipe("bilstm_tagger", config={"model": str(args.ours)})
        systems["bilstm-tagger"] = nlp
    if args.spacy:
        systems["spaCy"] = spacy.load(args.spacy)
    print("| layout | system | UPOS | XPOS | Lemmas |\n|---|---|---|---|---|")
    for layout, how in LAYOUTS.items():
        if how is None:
            texts = [render([[sentence]], "", "", None) for doc in docs for paragraph in doc for sentence in paragraph]
        else:
            texts = [render(doc, *how) for doc in docs]
        for name, nlp in systems.items():
            scores = score(nlp, texts)
            print(f"| {layout} | {name} | {scores['upos']:.2f} | {scores['xpos']:.2f} | {scores['lemma']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
