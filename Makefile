# The two set-up commands of the README: `make quickstart` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned CPU build first: an unpinned torch makes pip fetch a multi-GB CUDA build. The package itself asks for a
# range (torch>=2.1), so a user with another torch already installed keeps it (override: make TORCH=... ).
TORCH ?= torch==2.13.0

.PHONY: venv quickstart test bench-ewt bench-ud bench-speed bench-reports bench-reliability clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

quickstart: venv
	$(BIN)/bilstm-tagger train configs/tiny.cfg --train data/en_ewt-sample-train.conllu \
		--dev data/en_ewt-sample-dev.conllu --output runs/quickstart
	$(BIN)/bilstm-tagger evaluate runs/quickstart data/en_ewt-sample-test.conllu --output runs/quickstart-test.json
	$(BIN)/python examples/tag_with_spacy.py runs/quickstart "I didn't like the hotel, but the staff were friendly."

test: venv
	$(BIN)/python -m pytest -q

bench-ewt: venv
	$(BIN)/python bench/benchmark.py --config configs/bilstm.cfg --name bilstm --treebank en_ewt

# the multilingual table of bench/RESULTS.md: our default config and spaCy's tagger+morphologizer+
# trainable_lemmatizer on every treebank in ../shared/ud (EWT; de/fr/ru small-data), trained and scored alike
bench-ud: venv
	$(BIN)/python bench/ud.py

# the EWT model of `make bench-ud` (lemmas on and off), the trigram HMM and int8 against spaCy's pipeline of the
# same table (with and without its lemmatizer), in one run; the HMM is trained first if missing (seconds)
bench-speed: venv
	test -d bench/out/en_ewt-hmm-trigram || $(BIN)/bilstm-tagger train configs/hmm.cfg --quiet \
		--train ../shared/ud/en_ewt/en_ewt-ud-train.conllu --dev ../shared/ud/en_ewt/en_ewt-ud-dev.conllu \
		--output bench/out/en_ewt-hmm-trigram
	$(BIN)/python bench/speed.py --model bench/out/ud/en_ewt/bilstm --hmm bench/out/en_ewt-hmm-trigram \
		--fast bench/out/ud/en_ewt/bilstm:int8 --spacy-model bench/out/ud/en_ewt/spacy/model-best

bench-reports: venv
	BIN=$(BIN) bash bench/reports.sh

# the reliability table of bench/RESULTS.md: bad input, damaged models, OS errors, options; resume equality
bench-reliability: venv
	$(BIN)/python bench/reliability.py

clean:
	rm -rf runs .pytest_cache
