#!/usr/bin/env bash
# The prepared GPU run (README, "On a GPU"): on the GPU machine, install the carried wheels, time
# every method (latency table), then run the bench on Avoiding (gin/device/avoiding.gin, ~10 min),
# and leave in OUT_DIR: run.log, latency.md, results.md, results.csv, operative_config.gin and
# bench.tar.gz (the MLflow store, the run's output folder, without the checkpoints' weights).
# OUT_DIR holds at most 8 plain files
# (what the device tool returns); the work itself happens in WORK (default /tmp/bench-device).
#
#   here:  .venv/bin/python scripts/device/wheels.py            # once: .whl/ (~36 MiB)
#   there: scripts/device/run_avoiding.sh "$OUT"                 # carry=[".whl"]
#   here:  scripts/device/run_avoiding.sh /tmp/dry --dry-run     # CPU dry run, tiny settings
#
# Arguments after the mode go to bench.run (e.g. -b "Benchmark.methods = ['ddpm_1', 'vdd_ddpm']").
# bench.run writes to run.log directly (no pipe: an env worker left behind by a killed run
# would hold a pipe open, and the script would never end); its last lines are printed after.
#
# BENCH_BUDGET_S (default 390) caps bench.run: at the cap it gets SIGTERM, marks its runs KILLED
# and the finished cells' results are packed all the same.
set -uo pipefail
OUT=${1:?usage: scripts/device/run_avoiding.sh OUT_DIR [gpu|--dry-run] [bench.run args]}
MODE=${2:-gpu}
shift $(( $# < 2 ? $# : 2 ))
EXTRA=("$@")
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=${WORK:-/tmp/bench-device}
rm -rf "$WORK" && mkdir -p "$WORK"
LOG=$OUT/run.log
: >"$LOG"
say() { echo "[device] $*" | tee -a "$LOG"; }
cd "$REPO" || exit 2
export PYTHONUNBUFFERED=1 MUJOCO_GL=disable  # no rendering (videos = 0): no EGL needed there
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db" _MLFLOW_SERVER_ARTIFACT_ROOT="$WORK/mlruns"
export PYTHONPATH="$REPO/packages/moe/src:$REPO/packages/teachers/src:$REPO/packages/distill/src:$REPO/packages/envs/src:$REPO/packages/bench/src${PYTHONPATH:+:$PYTHONPATH}"

if [ "$MODE" = "--dry-run" ]; then
    PY=$REPO/.venv/bin/python
    DEVICE=cpu
    BUDGET=${BENCH_BUDGET_S:-1500}
    # the run's own settings, shrunk to seconds (every method, every step of the pipeline)
    TINY=(-b "TeacherTrainingConfig.iterations = 40" -b "TeacherTrainingConfig.warmup_steps = 5"
          -b "VDDConfig.iterations = 6" -b "CDConfig.iterations = 6" -b "CTMConfig.iterations = 6"
          -b "EMConfig.iterations = 6" -b "IMCConfig.iterations = 6"
          -b "VDDConfig.batch_size = 64" -b "TeacherTrainingConfig.batch_size = 64"
          -b "CDConfig.batch_size = 64" -b "CTMConfig.batch_size = 64"
          -b "EMConfig.batch_size = 64" -b "IMCConfig.batch_size = 64"
          -b "RolloutTask.eval_rollouts = 4" -b "RolloutTask.num_envs = 2"
          -b "Benchmark.timing_repeats = 2" -b "TrainerConfig.log_every = 5")
    REPEATS=2
    if ls .whl/*.whl >/dev/null 2>&1; then  # the wheels install for the GPU machine's Python
        say "checking that the $(ls .whl/*.whl | wc -l) wheels in .whl install for CPython 3.12"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site-check" \
            --python-version 3.12 --implementation cp --only-binary=:all: .whl/*.whl \
            >>"$LOG" 2>&1 || { say "wheel check FAILED"; exit 3; }
        say "wheels install: $(ls "$WORK/site-check" | wc -l) entries in a scratch target"
    else
        say "no .whl/ here: run scripts/device/wheels.py to prepare the GPU machine's wheels"
    fi
else
    PY=python3
    DEVICE=cuda
    BUDGET=${BENCH_BUDGET_S:-390}
    TINY=()
    REPEATS=100
    say "installing $(ls .whl/*.whl | wc -l) wheels into /tmp/site"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl >>"$LOG" 2>&1 || { say "wheel install FAILED"; exit 3; }
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 \
        | tee -a "$LOG"
fi
say "python $("$PY" -c 'import sys; print(sys.version.split()[0])'), device $DEVICE, bench budget ${BUDGET}s"

start=$(date +%s)
say "latency table of every method"
"$PY" scripts/device/latency.py --gin gin/device/avoiding.gin --device "$DEVICE" \
    --repeats "$REPEATS" --out "$OUT/latency.md" 2>&1 | tee -a "$LOG"
say "latency table: $(( $(date +%s) - start ))s"

start=$(date +%s)
say "bench.run on Avoiding (gin/device/avoiding.gin)"
timeout --signal=TERM "$BUDGET" "$PY" -m bench.run --gin gin/device/avoiding.gin \
    --device "$DEVICE" --output-dir "$WORK/outputs" -b "Benchmark.cache_dir = '$WORK/cache'" \
    -b "TrainerConfig.bar = False" "${TINY[@]}" "${EXTRA[@]}" >>"$LOG" 2>&1
code=$?
grep -v "^evaluate:" "$LOG" | tail -n 40
say "bench.run exit code $code after $(( $(date +%s) - start ))s"

run_dir=$(ls -d "$WORK"/outputs/*/*/ 2>/dev/null | tail -1)
for f in results.md results.csv operative_config.gin; do
    [ -n "$run_dir" ] && [ -f "$run_dir/$f" ] && cp "$run_dir/$f" "$OUT/$f"
done
# the checkpoints stay behind (12 x 2.3 MB would pass the 16 MiB a returned file may have)
tar -czf "$OUT/bench.tar.gz" -C "$WORK" --exclude=cache --exclude=site-check \
    --exclude='*.safetensors' . 2>>"$LOG"
say "packed $(du -h "$OUT/bench.tar.gz" | cut -f1) of outputs and MLflow store (checkpoints left out) into $OUT/bench.tar.gz"
ls -la "$OUT" | tee -a "$LOG"
exit "$code"
