#!/usr/bin/env bash
# predict --processes 2 against one process with one thread, on EWT train repeated 5 times (1.0M words), as
# alternating pairs of runs (so that a slower minute of the machine does not favour one side); prints each pair's
# wall times, whether the two outputs are the same bytes, and the median ratio. The "Scale" section of
# bench/RESULTS.md records its figures.
#
#   bash bench/predict_processes.sh [text|conllu] [PAIRS] [MODEL]
#
# text: one sentence per line, its forms separated by spaces; conllu: the treebank file itself, five times.
# MODEL defaults to the EWT model of `make bench-ud` (bench/out/ud/en_ewt/bilstm).
set -euo pipefail
cd "$(dirname "$0")/.."
FORMAT=${1:-text}; PAIRS=${2:-8}; MODEL=${3:-bench/out/ud/en_ewt/bilstm}
TRAIN=../shared/ud/en_ewt/en_ewt-ud-train.conllu
BIN=${BIN:-.venv/bin}
if [ ! -f "$TRAIN" ]; then echo "skipped: $TRAIN not found"; exit 0; fi
if [ ! -d "$MODEL" ]; then echo "no model at $MODEL: run make bench-ud first" >&2; exit 1; fi
OUT=bench/out/scale; mkdir -p "$OUT"
INPUT=$OUT/ewt_train_x5.$([ "$FORMAT" = text ] && echo txt || echo conllu)
if [ ! -f "$INPUT" ]; then
  "$BIN/python" - "$TRAIN" "$INPUT" "$FORMAT" <<'EOF'
import sys
from bilstm_tagger import read_conllu
train, output, form = sys.argv[1:]
if form == "text":
    block = "".join(" ".join(s.forms) + "\n" for s in read_conllu(train))
else:
    block = open(train, encoding="utf-8").read()
with open(output, "w", encoding="utf-8") as handle:
    handle.write(block * 5)
EOF
fi
ratios=()
for i in $(seq 1 "$PAIRS"); do
  order="1 2"; [ $((i % 2)) = 0 ] && order="2 1"
  declare -A took
  for p in $order; do
    start=$(date +%s.%N)
    if [ "$p" = 1 ]; then
      OMP_NUM_THREADS=1 "$BIN/bilstm-tagger" predict "$MODEL" "$INPUT" --quiet -o "$OUT/p1.conllu" 2>/dev/null
    else
      "$BIN/bilstm-tagger" predict "$MODEL" "$INPUT" --quiet --processes 2 -o "$OUT/p2.conllu" 2>/dev/null
    fi
    took[$p]=$(echo "$(date +%s.%N) - $start" | bc)
  done
  same=$(cmp -s "$OUT/p1.conllu" "$OUT/p2.conllu" && echo identical || echo DIFFERENT)
  ratio=$(echo "scale=3; ${took[1]} / ${took[2]}" | bc)
  ratios+=("$ratio")
  printf 'pair %d: 1 process %.2f s, 2 processes %.2f s, %sx, %s\n' "$i" "${took[1]}" "${took[2]}" "$ratio" "$same"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{r[NR]=$1} END {m = NR % 2 ? r[(NR+1)/2] : (r[NR/2] + r[NR/2+1]) / 2; printf "median %.2fx of %d pairs\n", m, NR}'
