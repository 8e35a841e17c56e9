"""Reading and writing CoNLL-U: what is kept, what is tagged, and the error for each kind of bad input."""

from __future__ import annotations

import itertools

import pytest

from bilstm_tagger import CorpusError, iter_conllu, read_conllu, write_conllu
from bilstm_tagger.corpus import sentences_from_forms

from .conftest import TINY_CONLLU


def test_corpus_reads_syntactic_words_only(tiny_path):
    sentences = read_conllu(tiny_path)
    assert len(sentences) == 4
    first = sentences[0]
    # the 2-3 range and the 4.1 empty node are kept as lines but are not words
    assert first.forms == ["I", "do", "n't", "like", "cats", "."]
    assert [w.id for w in first.words] == [1, 2, 3, 4, 5, 6]
    assert first.sent_id == "reviews-1-0001"
    assert first.first_line == 1
    assert sentences[1].first_line == 13


def test_corpus_underscore_means_unannotated_except_feats(tiny_path):
    sentences = read_conllu(tiny_path)
    dogs = sentences[1].words[0]
    assert dogs.upos == "NOUN" and dogs.xpos is None  # XPOS "_" is "no annotation"
    assert sentences[0].words[2].feats == "_"  # FEATS "_" is the empty feature set, kept as a label


def test_corpus_write_back_is_byte_identical(tiny_path, tmp_path):
    out = tmp_path / "out.conllu"
    write_conllu(out, read_conllu(tiny_path))
    assert out.read_bytes() == tiny_path.read_bytes()


def test_corpus_crlf_and_missing_final_newline_survive(tmp_path):
    text = TINY_CONLLU.replace("\n", "\r\n").rstrip("\r\n")
    path = tmp_path / "crlf.conllu"
    path.write_bytes(text.encode("utf-8"))
    sentences = read_conllu(path)
    assert len(sentences) == 4
    assert "".join(s.to_conllu() for s in sentences).encode("utf-8") == text.encode("utf-8")


def test_corpus_to_conllu_changes_only_tag_columns(tiny_path):
    sentence = read_conllu(tiny_path)[0]
    out = sentence.to_conllu({"upos": ["X"] * 6, "feats": ["_"] * 6})
    original_lines = sentence.to_conllu().splitlines()
    new_lines = out.splitlines()
    assert len(original_lines) == len(new_lines)
    for old, new in zip(original_lines, new_lines):
        if old.startswith("#") or not old or not old.split("\t")[0].isdigit():
            assert old == new
        else:
            a, b = old.split("\t"), new.split("\t")
            assert b[3] == "X" and b[5] == "_"
            assert a[:3] == b[:3] and a[4] == b[4] and a[6:] == b[6:]


def test_corpus_iter_is_a_stream(tmp_path):
    # the second sentence is broken: the first is still delivered before the error
    path = tmp_path / "stream.conllu"
    path.write_text("1\ta\t_\tX\t_\t_\t_\t_\t_\t_\n\n1\tb\t_\tNOPE\t_\t_\t_\t_\t_\t_\n\n", encoding="utf-8")
    stream = iter_conllu(path)
    assert next(stream).forms == ["a"]
    with pytest.raises(CorpusError):
        next(stream)


def test_corpus_sentences_from_forms():
    (sentence,) = sentences_from_forms([["Hello", "world"]])
    assert sentence.forms == ["Hello", "world"]
    assert sentence.to_conllu({"upos": ["INTJ", "NOUN"]}).splitlines()[1].split("\t")[3] == "NOUN"


GOOD = "1\tHello\thello\tINTJ\tUH\t_\t0\troot\t0:root\t_\n"


@pytest.mark.parametrize(
    "text, line, message",
    [
        (GOOD + "2\tworld\tworld\tNOUN\tNN\t_\t1\tvocative\n\n", 2, "expected 10 tab-separated columns, found 8"),
        (GOOD + "two\tworld\tworld\tNOUN\tNN\t_\t1\tvocative\t_\t_\n\n", 2, "ID 'two' is not a word number"),
        (GOOD + "3\tworld\tworld\tNOUN\tNN\t_\t1\tvocative\t_\t_\n\n", 2, "word ID 3 out of sequence: expected 2"),
        (GOOD + "2\tworld\tworld\tNOUNY\tNN\t_\t1\tvocative\t_\t_\n\n", 2, "UPOS 'NOUNY' is not one of the 17 UD tags"),
        (GOOD + "3-4\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\n", 2, "multiword range 3-4 out of sequence"),
        (GOOD + "\n# sent_id = x\n\n", 3, "comment lines followed by a blank line, with no words"),
        (GOOD + "2.1\tworld\t_\tNOUN\t_\t_\t_\t_\t_\t_\n\n", 2, "empty node 2.1 out of sequence"),
    ],
)
def test_corpus_bad_input_names_file_line_and_problem(tmp_path, text, line, message):
    path = tmp_path / "bad.conllu"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        read_conllu(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_corpus_undecodable_bytes(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(GOOD.encode() + "2\tcaf\xe9\tcaf\xe9\tNOUN\tNN\t_\t1\tdep\t_\t_\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1.conllu:2: invalid UTF-8 \(byte 0xe9 at column 6\)"):
        read_conllu(path)


def test_corpus_empty_file(tmp_path):
    path = tmp_path / "empty.conllu"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"empty.conllu: no sentences found"):
        read_conllu(path)


def test_corpus_missing_file(tmp_path):
    with pytest.raises(CorpusError, match=r"nope.conllu: no such file"):
        read_conllu(tmp_path / "nope.conllu")


def test_corpus_reads_the_shipped_sample():
    from .conftest import ROOT

    sentences = list(itertools.islice(iter_conllu(ROOT / "data" / "en_ewt-sample-dev.conllu"), 100))
    assert len(sentences) == 100
    assert all(w.upos is not None for s in sentences for w in s.words)
