#!/usr/bin/env bash
# The GPU check, for a machine that has JAX with CUDA (and optax, matplotlib, tqdm,
# pytest) already installed and no network: everything it makes goes to OUTDIR, inside 8 minutes.
#
#   benchmarks/gpu_check.sh OUTDIR [extra arguments of benchmarks/run.py, e.g. --sizes 1000,100000]
#
# 1. the project, importable without installing dependencies (pip --no-deps, else PYTHONPATH);
# 2. the fast test subset on the GPU (a failure is recorded, not fatal: the CPU is the reference);
# 3. the quick demo studies (fig1, fig2a, fig3, fig5);
# 4. benchmarks/run.py on the GPU -> OUTDIR/results_gpu.json, then every study at full size,
#    timed (OUTDIR/figures/*.json, *.png); the JSON is rewritten after every study, so a study cut
#    off by the time limit loses only itself.
# Every step has its own time limit (seconds, environment): T_TESTS, T_QUICK, T_BENCH.
#
# GPU_CHECK_DRY=1: a dry run on the CPU at tiny sizes (tests/test_gpu_check.py runs it).
set -uo pipefail

OUT=${1:?usage: benchmarks/gpu_check.sh OUTDIR [extra arguments of benchmarks/run.py]}
shift
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY:-0}
START=$(date +%s)
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_check.log"; }

if [ "$DRY" = 1 ]; then
  export JAX_PLATFORMS=cpu
  T_TESTS=${T_TESTS:-120}; T_QUICK=${T_QUICK:-60}; T_BENCH=${T_BENCH:-240}
  TESTS=(tests/test_layout.py -k "policy")
  QUICK=(fig1)
  BENCH=(--accelerator --sizes 64 --copy-floats 100000 --quick --figures-quick --figures-budget 1)
else
  # float32 sums in a fixed order on the GPU too (no atomics): same seed, same numbers
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true"
  T_TESTS=${T_TESTS:-75}; T_QUICK=${T_QUICK:-75}; T_BENCH=${T_BENCH:-300}
  # the fused window first: on a GPU its tests compare the compiled Triton kernel with the
  # vectorized window (within 1e-5), which nothing on a CPU can check
  TESTS=(tests/test_kuramoto_fused.py tests/test_learning.py tests/test_feedforward.py tests/test_kuramoto.py
         tests/test_layout.py tests/test_driver.py tests/test_helpers.py)
  QUICK=(fig1 fig2a fig3 fig5)
  BENCH=(--accelerator --figures-budget "${FIGURES_BUDGET:-150}")
fi

log "1. install (no dependencies)"
if [ "$DRY" = 1 ]; then
  log "   dry run: PYTHONPATH only (the environment is left as it is)"
elif ! $PY -m pip install --quiet --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1; then
  log "   pip install failed (see install.log); using PYTHONPATH"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{ $PY -c "import jax, ensemble; print('jax', jax.__version__, jax.devices(), 'ensemble', ensemble.__version__)"
  command -v nvidia-smi >/dev/null && nvidia-smi; } >"$OUT/env.txt" 2>&1
log "   $(head -1 "$OUT/env.txt")"

log "2. fast tests (${TESTS[*]})"
timeout "$T_TESTS" $PY -m pytest -q -p no:cacheprovider "${TESTS[@]}" >"$OUT/tests.log" 2>&1
log "   pytest exit $? : $(tail -1 "$OUT/tests.log")"

log "3. quick studies (${QUICK[*]}), one process"
timeout "$T_QUICK" $PY - "$OUT/quick" "${QUICK[@]}" >"$OUT/quick.log" 2>&1 <<'PYEOF'
import sys, time
from ensemble import studies
out = sys.argv[1]
for s in sys.argv[2:]:
    t0 = time.perf_counter()
    try:
        studies.reproduce(s, out, quick=True)
        print(f"{s} exit 0 in {time.perf_counter() - t0:.1f} s", flush=True)
    except Exception as exc:  # noqa: BLE001 - record and go on
        print(f"{s} exit 1 in {time.perf_counter() - t0:.1f} s: {type(exc).__name__}: {exc}", flush=True)
PYEOF
log "   exit $?"
sed 's/^/   /' "$OUT/quick.log" | grep " exit " | tee -a "$OUT/gpu_check.log" >/dev/null

log "4. benchmark and full-size studies"
timeout "$T_BENCH" $PY -m benchmarks.run --json "$OUT/results_gpu.json" --figure "$OUT/scaling.png" \
  --figures-out "$OUT/figures" "${BENCH[@]}" "$@" >"$OUT/bench.log" 2>&1
log "   benchmark exit $?"
tail -30 "$OUT/bench.log" | sed 's/^/   /' | tee -a "$OUT/gpu_check.log" >/dev/null
log "done in $(( $(date +%s) - START )) s"
