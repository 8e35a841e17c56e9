"""Tagging whole files with a :class:`~bilstm_tagger.inference.tagger.Tagger`: CoNLL-U written back with only the
predicted columns changed, or pre-tokenized text written as CoNLL-U, streamed a chunk at a time, in one process or
several; or a gold file's tags scored against its own (``evaluate MODEL TEST``)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
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


#: The tagger a worker process of :func:`tag_conllu` tags with (inherited from the parent when it forks).
_WORKER_TAGGER: Optional[Tagger] = None


def _tag_in_worker(sentences: List[List[str]]) -> list:
    return _WORKER_TAGGER.tag(sentences)


class _Done:
    """A chunk tagged in this process (what a worker's ``AsyncResult`` is for a chunk tagged in another)."""

    def __init__(self, tags: list) -> None:
        self.tags = tags

    def get(self) -> list:
        return self.tags


@contextlib.contextmanager
def _chunk_tagger(tagger: Tagger, processes: int):
    """(submit, lookahead): ``submit(sentences)`` starts tagging a chunk of word lists and returns something whose
    ``get()`` gives its tags; at most ``lookahead`` chunks should be in flight. One process tags with ``tagger``
    itself; more fork a pool whose workers tag with their copy of it, one torch thread each."""
    global _WORKER_TAGGER
    if processes <= 1:
        yield (lambda sentences: _Done(tagger.tag(sentences))), 0
        return
    _WORKER_TAGGER = tagger
    # forked children inherit the loaded model (no reloading, pages shared) and start with one torch thread
    # (bilstm_tagger.threads), which is what several processes on the same cores want
    pool = multiprocessing.get_context("fork").Pool(processes)
    try:
        yield (lambda sentences: pool.apply_async(_tag_in_worker, (sentences,))), 2 * processes
    finally:
        pool.terminate()
        _WORKER_TAGGER = None


def tag_conllu(
    tagger: Tagger, input_path: Union[str, Path], handle: IO[str], *, input_format: str = "conllu",
    progress: bool = False, processes: int = 1,
) -> int:
    """Tag ``input_path`` and write it to ``handle`` as CoNLL-U, a chunk of sentences at a time (memory does not grow
    with the input); returns the number of words tagged.

    ``input_format`` is "conllu" or "text" (pre-tokenized: one sentence per line, words separated by spaces, written
    out as CoNLL-U with ``# sent_id`` and ``# text``). ``progress`` shows a bar with words and words/s on standard
    error (only when it is a terminal). With ``processes`` > 1, chunks are tagged by that many forked worker
    processes (POSIX), one torch thread each; the output is the same, in the same order.

    Every predicted target's column is replaced; a tag column (UPOS, XPOS, FEATS) the model does not predict is
    written as ``_`` so that no gold tag leaks into the output; LEMMA is left as it is unless the model lemmatizes.
    Every other byte is copied unchanged.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    words = 0
    written = [*LABELLED_TARGETS, *(t for t in tagger.targets if t not in LABELLED_TARGETS)]
    # disable=None: tqdm turns itself off when standard error is not a terminal
    bar = tqdm(unit="w", unit_scale=True, desc="tagging", disable=None if progress else True, file=sys.stderr)

    def write(chunk: List[Sentence], predicted: list) -> int:
        for sentence, tags in zip(chunk, predicted):
            columns = {
                target: [label or "_" for label in tags.get(target, [None] * len(sentence))] for target in written
            }
            handle.write(sentence.to_conllu(columns))
        n_words = sum(len(sentence) for sentence in chunk)
        bar.update(n_words)
        return n_words

    with _chunk_tagger(tagger, processes) as (submit, lookahead):
        # a bounded number of chunks in flight, written in input order: memory does not grow with the input
        pending: collections.deque = collections.deque()
        for chunk in _chunks(INPUT_FORMATS[input_format](input_path), CHUNK_SENTENCES):
            pending.append((chunk, submit([s.forms for s in chunk])))
            while len(pending) > lookahead:
                chunk, result = pending.popleft()
                words += write(chunk, result.get())
        while pending:
            chunk, result = pending.popleft()
            words += write(chunk, result.get())
    bar.close()
    return words


def predict_file(
    tagger: Tagger,
    *,
    input_path: Union[str, Path],
    output_path: Optional[Union[str, Path]] = None,
    input_format: str = "auto",
    progress: bool = False,
    processes: int = 1,
) -> int:
    """Tag a CoNLL-U or pre-tokenized text file (see :func:`tag_conllu`; "auto": by the file's suffix) into
    ``output_path`` (written atomically) or, without one, to standard output.

    Returns:
        The number of words tagged.
    """
    options = {"input_format": input_format_of(input_path, input_format), "progress": progress, "processes": processes}
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
