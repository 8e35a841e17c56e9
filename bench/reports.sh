#!/usr/bin/env bash
# Per-tag reports on the EWT test set, from the models bench/benchmark.py trained into bench/out/ (see RESULTS.md):
#   bench/reports/ewt-bilstm.{md,html}   bilstm-tagger evaluate of configs/bilstm.cfg's model, UPOS and XPOS tables
#   bench/reports/ewt-compare.{md,html}  bilstm-tagger compare of every model kind found in bench/out/
# The Markdown files are committed; the HTML files (plots embedded, a few hundred KB) are not.
# Usage, from the repository root after `make venv`:  bash bench/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
TEST=${TEST:-../shared/ud/en_ewt/en_ewt-ud-test.conllu}
if [ ! -f "$TEST" ]; then echo "skip: $TEST not found (treebanks live in ../shared/ud)"; exit 0; fi
mkdir -p bench/reports
systems=()
for name in bilstm hmm-trigram hmm-bigram rnn-lstm rnn-elman seq2seq-forward seq2seq-reversed seq2seq-attention; do
  if [ -d "bench/out/en_ewt-$name" ]; then systems+=("$name=bench/out/en_ewt-$name"); fi
done
if [ ! -d bench/out/en_ewt-bilstm ]; then echo "no bench/out/en_ewt-bilstm: run make bench-ewt first"; exit 1; fi
"$BIN/bilstm-tagger" evaluate bench/out/en_ewt-bilstm "$TEST" --xpos \
  -o bench/reports/ewt-bilstm.md -o bench/reports/ewt-bilstm.html > /dev/null
"$BIN/bilstm-tagger" compare --gold "$TEST" "${systems[@]}" \
  -o bench/reports/ewt-compare.md -o bench/reports/ewt-compare.html > /dev/null
echo "written: bench/reports/ewt-bilstm.{md,html}, bench/reports/ewt-compare.{md,html} (${#systems[@]} systems)"
