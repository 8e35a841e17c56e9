"""Tag a sentence through spaCy with a trained model directory.

Usage: python examples/tag_with_spacy.py MODEL_DIR "A sentence to tag."
"""

import sys

import spacy


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    model_dir, text = sys.argv[1], sys.argv[2]
    nlp = spacy.blank("en")  # spaCy's English tokenizer; the tagger comes from the model directory
    nlp.add_pipe("bilstm_tagger", config={"model": model_dir})
    doc = nlp(text)
    print(f"{'token':<12}{'lemma_':<12}{'pos_ (UPOS)':<13}{'tag_ (XPOS)':<13}morph (UFeats)")
    for token in doc:
        print(f"{token.text:<12}{token.lemma_:<12}{token.pos_:<13}{token.tag_:<13}{token.morph}")


if __name__ == "__main__":
    main()
