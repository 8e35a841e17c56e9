#!/usr/bin/env bash
# GPU check and benchmark, one prepared script for a CUDA machine: install the project, run the tests with a GPU
# present, train on EWT with --device cuda (the default config and three other sizes side by side, each capped
# at MINUTES), evaluate the default on test with --device cuda, and measure GPU words/s with a batch sweep in
# fp32, bf16 and fp16 plus a profile of one pass (bench/speed.py gpu). Everything it reports goes under $OUT:
#   gpu.log          the GPU, each step's output, the tests' summary, the tail of each training log
#   eval-test.json   `bilstm-tagger evaluate --device cuda` of the default model on EWT test
#   gpu_speed.json   words/s per precision and batch size (library), and through nlp.pipe with spacy.require_gpu()
#   model-NAME.tar.gz  each trained model directory (to evaluate and time on a CPU afterwards)
#
# Usage, from the repository root:  OUT=/some/dir bash bench/gpu.sh
# Settings (environment): OUT (default bench/out/gpu), UD (treebanks; default ../shared/ud, or .gpu/ud.tar.xz
# when carried), MINUTES (training cap per model, default 4), PYTHON (default python3), DEVICE (default cuda),
# SITE (default .gpu/site.tar.xz), INSTALL (default `pip install -e .[test]`, used when SITE is missing),
# MODEL (a trained model directory: skip training and measure it), TESTS (pytest arguments; default: the model,
# component, training, serialization and CLI tests).
# On a machine without network access, carry the dependencies as .gpu/site.tar.xz and the treebanks as
# .gpu/ud.tar.xz (made on a machine with network; torch, numpy, scipy, scikit-learn, matplotlib, safetensors and
# tqdm were already on the H100 image, Python 3.12):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --platform manylinux_2_28_x86_64 -d wheels spacy==3.8.18 thinc==8.3.14 blis cymem preshed murmurhash \
#       srsly wasabi catalogue confection weasel spacy-legacy spacy-loggers smart_open cloudpathlib \
#       pydantic pydantic_core annotated-types typing-inspection conllu   # the versions of your .venv
#   mkdir site && for w in wheels/*.whl; do unzip -q -o "$w" -d site; done && tar -C site -cJf .gpu/site.tar.xz .
#   tar -C ../shared/ud -cJf .gpu/ud.tar.xz en_ewt
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
MINUTES=${MINUTES:-4}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu.log") 2>&1
step() { echo; echo "== $* ($(date +%T))"; }

step install
SITE=${SITE:-.gpu/site.tar.xz}
if [ -f "$SITE" ]; then
    mkdir -p /tmp/site && tar -xJf "$SITE" -C /tmp/site || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    $PY -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . || exit 1
else
    ${INSTALL:-$PY -m pip install -q -e .[test]} || exit 1
fi
if [ -z "${UD:-}" ]; then
    if [ -f .gpu/ud.tar.xz ]; then
        mkdir -p /tmp/ud && tar -xJf .gpu/ud.tar.xz -C /tmp/ud && UD=/tmp/ud
    else
        UD=../shared/ud
    fi
fi
EWT=$UD/en_ewt/en_ewt-ud
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null
$PY -c "import torch, spacy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'spacy', spacy.__version__)"

step tests with a GPU present
# shellcheck disable=SC2086
timeout 300 $PY -m pytest -q -p no:cacheprovider ${TESTS:-tests/test_models.py tests/test_spacy_component.py \
    tests/test_training.py tests/test_serialization.py tests/test_cli.py} 2>&1 | tail -15

# The default config and smaller or larger candidates side by side (the GPU has room for all four); their dev
# scores are for choosing on dev, their model directories come back for CPU timing.
train_candidates() {
    declare -A candidates=([default]="" [h128]="--model.hidden 128" [h128-1layer]="--model.hidden 128 --model.layers 1"
        [h64]="--model.hidden 64")
    local name pids=()
    for name in "${!candidates[@]}"; do
        # shellcheck disable=SC2086
        $PY -m bilstm_tagger train configs/bilstm.cfg --train "$EWT-train.conllu" --dev "$EWT-dev.conllu" \
            --output "/tmp/models/$name" --device "$DEVICE" --training.max_minutes "$MINUTES" --quiet \
            ${candidates[$name]} > "/tmp/train-$name.log" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"  # a bare `wait` would also wait for the tee behind this script's output
    for name in "${!candidates[@]}"; do
        echo "-- $name"; tail -3 "/tmp/train-$name.log"
        # per epoch: dev scores, seconds since the start, whether it was the best so far
        $PY -c "import json,sys; [print(r['epoch'], r['dev'], round(r['seconds']), r['best']) for r in map(json.loads, open(sys.argv[1]))]" \
            "/tmp/models/$name/train_log.jsonl" 2>&1 | tail -40
        tar -czf "$OUT/model-$name.tar.gz" -C /tmp/models "$name"
    done
}

if [ -n "${MODEL:-}" ]; then
    step "measuring $MODEL (no training)"
else
    step "train on EWT, device $DEVICE, $MINUTES minutes each"
    train_candidates
    MODEL=/tmp/models/default
fi

step evaluate the default model on test, device $DEVICE
$PY -m bilstm_tagger evaluate "$MODEL" "$EWT-test.conllu" --device "$DEVICE" --format json \
    --output "$OUT/eval-test.json" > /dev/null && \
    $PY -c "import json,sys; m=json.load(open(sys.argv[1]))['metrics']; print({k: v.get('accuracy') for k, v in m.items() if isinstance(v, dict)})" "$OUT/eval-test.json"

if [ "$DEVICE" = cuda ]; then
    step GPU words/s
    $PY bench/speed.py gpu --model "$MODEL" --test "$EWT-test.conllu" --profile --output "$OUT/gpu_speed.json"
fi
step done
