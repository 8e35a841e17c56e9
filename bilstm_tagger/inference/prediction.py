"""Tagging whole CoNLL-U files with a :class:`~bilstm_tagger.inference.tagger.Tagger`: write them back with only the
tag columns changed, or score the tags against the file's own (``evaluate MODEL TEST``)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import IO, Iterator, List, Optional, Sequence, Tuple, Union

from tqdm.auto import tqdm

from ..corpus import Sentence, iter_conllu, iter_text, read_conllu
from ..evaluation.scoring import file_record, score
from ..files import atomic_open
from ..targets import LABELLED_TARGETS
from .options import InferenceOptions
from .tagger import Tagger, load_model

#: Sentences read, tagged and written at a time, so a large file never sits in memory whole.
CHUNK_SENTENCES = 2000


def _chunks(sentences: Iterator[Sentence], size: int) -> Iterator[List[Sentence]]:
    while True:
        chunk = list(itertools.islice(sentences, size))
        if not chunk:
            return
        yield chunk


#: Input formats of :func:`tag_conllu`: how a file is read as sentences.
INPUT_FORMATS = {"conllu": iter_conllu, "text": iter_text}


def input_format_of(path: Union[str, Path], requested: str = "auto") -> str:
    """The format to read ``path`` in: ``requested``, or for "auto" "text" for a ``.txt`` file, else "conllu"."""
    if requested != "auto":
        return requested
    return "text" if Path(path).suffix.lower() == ".txt" else "conllu"


def tag_conllu(
    tagger: Tagger, input_path: Union[str, Path], handle: IO[str], *, input_format: str = "conllu",
    progress: bool = False,
) -> int:
    """Tag ``input_path`` and write it to ``handle`` as CoNLL-U, a chunk of sentences at a time (memory does not grow
    with the input); returns the number of words tagged.

    ``input_format`` is "conllu" or "text" (pre-tokenized: one sentence per line, words separated by spaces, written
    out as CoNLL-U with ``# sent_id`` and ``# text``). ``progress`` shows a bar with words and words/s on standard
    error (only when it is a terminal).

    Every predicted target's column is replaced; a tag column (UPOS, XPOS, FEATS) the model does not predict is
    written as ``_`` so that no gold tag leaks into the output; LEMMA is left as it is unless the model lemmatizes.
    Every other byte is copied unchanged.
    """
    words = 0
    written = [*LABELLED_TARGETS, *(t for t in tagger.targets if t not in LABELLED_TARGETS)]
    # disable=None: tqdm turns itself off when standard error is not a terminal
    bar = tqdm(unit="w", unit_scale=True, desc="tagging", disable=None if progress else True, file=sys.stderr)
    for chunk in _chunks(INPUT_FORMATS[input_format](input_path), CHUNK_SENTENCES):
        predicted = tagger.tag([s.forms for s in chunk])
        for sentence, tags in zip(chunk, predicted):
            columns = {
                target: [label or "_" for label in tags.get(target, [None] * len(sentence))]
                for target in written
            }
            handle.write(sentence.to_conllu(columns))
            words += len(sentence)
        bar.update(sum(len(sentence) for sentence in chunk))
    bar.close()
    return words


def predict_file(
    tagger: Tagger,
    *,
    input_path: Union[str, Path],
    output_path: Optional[Union[str, Path]] = None,
    input_format: str = "auto",
    progress: bool = False,
) -> int:
    """Tag a CoNLL-U or pre-tokenized text file (see :func:`tag_conllu`; "auto": by the file's suffix) into
    ``output_path`` (written atomically) or, without one, to standard output.

    Returns:
        The number of words tagged.
    """
    options = {"input_format": input_format_of(input_path, input_format), "progress": progress}
    if output_path is None:
        return tag_conllu(tagger, input_path, sys.stdout, **options)
    with atomic_open(output_path, "w") as handle:
        return tag_conllu(tagger, input_path, handle, **options)


def evaluate_model(tagger: Tagger, test_path: Union[str, Path], *, tag_tables=("upos",)) -> dict:
    """Tag a gold CoNLL-U file's words with ``tagger`` and score the result (see
    :func:`~bilstm_tagger.evaluation.scoring.score`).

    The report also records the test file (name and sha256), the tokenization (gold) and the model's
    architecture and training files, so a figure can be traced to what produced it.
    """
    gold = read_conllu(test_path)
    predicted = tagger.tag([sentence.forms for sentence in gold])
    report = score(gold, predicted, train_forms=tagger.vocabs.train_forms, tag_tables=tag_tables)
    report["test_file"] = file_record(test_path)
    report["tokenization"] = "gold"
    report["system"] = {
        "architecture": tagger.meta.get("architecture"),
        "train_files": tagger.meta.get("train_files"),
        "targets": tagger.targets,
    }
    return report


def tag_gold(
    model_dir: Path, gold: Sequence[Sentence], *, options: Optional[InferenceOptions] = None
) -> Tuple[list, List[str], dict]:
    """A model directory as a system of a comparison (:data:`~bilstm_tagger.evaluation.comparison.ModelTagger`):
    its tags for ``gold``'s words, its training forms, and where it came from."""
    tagger = load_model(model_dir, options)
    predicted = tagger.tag([sentence.forms for sentence in gold])
    return predicted, tagger.vocabs.train_forms, {"model": str(model_dir), "architecture": tagger.meta.get("architecture")}
