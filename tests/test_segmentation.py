"""Sentences for the tagger: the punctuation rule, spaCy's boundaries, and the component tagging each sentence of a
Doc as the library tags that sentence alone."""

from __future__ import annotations

import pytest

from bilstm_tagger import load_model
from bilstm_tagger.segmentation import sentence_spans, spans_from_starts


def test_sentence_spans_split_after_final_punctuation_and_its_closing_quotes():
    words = ["Hi", ".", "How", "are", "you", "?!", '"', "Fine", "..."]
    assert sentence_spans(words) == [(0, 2), (2, 7), (7, 9)]


def test_sentence_spans_keep_a_sentence_that_goes_on_in_lower_case():
    assert sentence_spans(["It", "costs", "5", ".", "or", "so", "."]) == [(0, 7)]
    assert sentence_spans(["U.S.", "troops", "left"]) == [(0, 3)]
    assert sentence_spans([]) == []


def test_spans_from_sentence_start_flags():
    assert spans_from_starts([True, None, False, True, None]) == [(0, 3), (3, 5)]
    assert spans_from_starts([None, None]) == [(0, 2)]


def test_spacy_component_tags_each_sentence_of_a_doc_on_its_own(tiny_model):
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import Doc

    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tiny_model)})
    first, second = ["I", "like", "cats", "."], ["Dogs", "bark", "loudly"]
    alone = load_model(tiny_model).tag([first, second])
    expected = {key: alone[0][key] + alone[1][key] for key in ("upos", "xpos", "lemma")}
    by_rule = nlp(Doc(nlp.vocab, words=first + second))
    marked = nlp(Doc(nlp.vocab, words=first + second, sent_starts=[True, False, False, False, True, False, False]))
    for doc in (by_rule, marked):
        assert [t.pos_ for t in doc] == expected["upos"] and [t.tag_ for t in doc] == expected["xpos"]
        assert [t.lemma_ for t in doc] == expected["lemma"]
    # what reaches the tagger: boundaries that something upstream set win over the rule
    tagger = nlp.get_pipe("bilstm_tagger").tagger
    seen = []
    tag_ids = tagger.tag_ids
    tagger.tag_ids = lambda sentences, **kwargs: seen.append(sentences) or tag_ids(sentences, **kwargs)
    nlp(Doc(nlp.vocab, words=first + second))
    nlp(Doc(nlp.vocab, words=first + second, sent_starts=[True] + [False] * 6))
    nlp(Doc(nlp.vocab, words=["a", ".", "B", "\n\n", "c"], sent_starts=[True, False, False, False, True]))
    assert seen == [[first, second], [first + second], [["a", ".", "B"], ["c"]]]


def test_predict_reads_pre_tokenized_text_and_writes_conllu(tiny_model, tmp_path, capsys):
    from bilstm_tagger import read_conllu
    from bilstm_tagger.cli import main

    text = tmp_path / "in.txt"
    text.write_text("\ufeffI like cats .\n\n  Dogs  bark loudly \n", encoding="utf-8")
    out = tmp_path / "out.conllu"
    assert main(["predict", str(tiny_model), str(text), "-o", str(out)]) == 0
    assert "tagging" not in capsys.readouterr().err  # no progress bar when stderr is not a terminal
    sentences = read_conllu(out)
    assert [s.forms for s in sentences] == [["I", "like", "cats", "."], ["Dogs", "bark", "loudly"]]
    assert [s.sent_id for s in sentences] == ["1", "3"]
    expected = load_model(tiny_model).tag([s.forms for s in sentences])
    assert [[w.upos for w in s.words] for s in sentences] == [t["upos"] for t in expected]
    assert [[w.lemma for w in s.words] for s in sentences] == [t["lemma"] for t in expected]


def test_predict_with_two_processes_writes_what_one_writes(tiny_model, tiny_data, tmp_path):
    from bilstm_tagger.cli import main

    big = tmp_path / "big.conllu"
    big.write_text(tiny_data.read_text(encoding="utf-8") * 700, encoding="utf-8")  # 2,800 sentences: two chunks
    outputs = []
    for processes in ("1", "2"):
        out = tmp_path / f"out{processes}.conllu"
        assert main(["predict", str(tiny_model), str(big), "-o", str(out), "--processes", processes]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n\n") == 2800
