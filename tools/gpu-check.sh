#!/usr/bin/env bash
# The prepared GPU measurement (issues 10 and 11): benches and `pytest -m gpu` on one CUDA
# machine, in priority order, inside a time budget (default 450 s of benches: under 8 minutes
# in all on an H100/H200). Every configuration appends one JSON line to OUT/bench.jsonl.
#
#   tools/gpu-check.sh [OUT]        # OUT default: gpu-check-out
#
# Install: wheels in ./.whl (carried to a machine without network) go to /tmp/site; otherwise
# `pip install -e .` (a machine with network). torch with CUDA must already be there. For this
# workplace's H200 image (torch, transformers, peft, onnx, cv2 present), from the repo root here:
#   echo /.whl/ >> .git/info/exclude && python3 -m pip download --no-deps --only-binary=:all: \
#     --python-version 3.12 --implementation cp --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 platformdirs pydantic \
#     pydantic-core annotated-types typing-inspection
# then the device call names `.whl` in `carry` and runs `tools/gpu-check.sh $OUT`.
# Depth runs on onnxruntime-gpu when its CUDA provider loads, else on torch (said in the JSON).
# Knobs: PYTHON, GPU_CHECK_BUDGET_S, GPU_CHECK_SMOKE=1 (the same steps on the tiny model at a
# small size and uncompiled, on any machine: how the script itself is tested on the CPU).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-gpu-check-out}"
PY="${PYTHON:-python3}"
BUDGET="${GPU_CHECK_BUDGET_S:-450}"
mkdir -p "$OUT"
: > "$OUT/bench.jsonl"
START=$(date +%s)
export PYTHONUNBUFFERED=1

# 1. Install what the machine lacks.
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl \
        || { echo "installing the carried wheels failed" >&2; exit 1; }
    export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
elif ! "$PY" -c "import live2diff_cam, diffusers" 2> /dev/null; then
    "$PY" -m pip install -q -e . || { echo "pip install -e . failed" >&2; exit 1; }
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# 2. The machine, once.
"$PY" - > "$OUT/machine.json" << 'PYEOF'
import json, platform, subprocess, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version()}
if torch.cuda.is_available():
    info["gpu"] = torch.cuda.get_device_name()
    info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    try:
        info["driver"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20).stdout.strip()
    except OSError:
        info["driver"] = "unknown"
print(json.dumps(info))
PYEOF
cat "$OUT/machine.json"
if "$PY" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2> /dev/null; then
    DEPTH_RUNTIME=onnx
else
    DEPTH_RUNTIME=torch
fi
echo "depth runtime: $DEPTH_RUNTIME"

if [[ "${GPU_CHECK_SMOKE:-0}" == 1 ]]; then
    MODEL=tiny; SQUARE=(--height 32 --width 32); WIDE=(--height 32 --width 48); FRAMES=2
    DEPTH=(--depth random:tiny-depth-anything); HEADLINE_FRAMES=2; COMPILED=--no-compile
else
    MODEL=sd15-random; SQUARE=(--height 512 --width 512); WIDE=(--height 512 --width 768)
    FRAMES=30; DEPTH=(--depth random:depth-anything-v2-small); HEADLINE_FRAMES=60
    COMPILED=--compile
fi

# 3. One bench configuration: skipped (and said so) once the budget is spent.
bench() {
    local name="$1"; shift
    local left=$((BUDGET - ($(date +%s) - START)))
    if (( left < 20 )); then
        echo "skip $name: the ${BUDGET}s budget is spent"
        echo "{\"config\": \"$name\", \"skipped\": \"time budget\"}" >> "$OUT/bench.jsonl"
        return
    fi
    echo "=== $name (${left}s left)"
    timeout "$left" "$PY" -m live2diff_cam bench --model "$MODEL" --depth-runtime "$DEPTH_RUNTIME" \
        "$@" > "$OUT/$name.jsonl" 2> "$OUT/$name.log"
    local rc=$?
    "$PY" - "$name" "$rc" "$OUT/$name.jsonl" >> "$OUT/bench.jsonl" << 'PYEOF'
import json, sys
name, rc, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [json.loads(l) for l in open(path) if l.startswith("{")]
for line in lines:
    print(json.dumps({"config": name, **line}))
if rc != 0 or not lines:
    print(json.dumps({"config": name, "failed": f"exit {rc}", "log": path.replace(".jsonl", ".log")}))
PYEOF
    tail -n 3 "$OUT/$name.jsonl" | cut -c1-300
}

# 4. In priority order: the headline first, so a short lease still answers the question.
bench c-512-s2-taesd-depth "${SQUARE[@]}" --steps 2 "$COMPILED" --modes pipelined "${DEPTH[@]}" --frames "$HEADLINE_FRAMES"
bench e-512-s2-taesd-depth "${SQUARE[@]}" --steps 2 --no-compile "${DEPTH[@]}" --frames "$FRAMES"
bench e-512-s134-taesd-depth "${SQUARE[@]}" --steps 1 3 4 --no-compile --modes pipelined "${DEPTH[@]}" --frames "$FRAMES"
bench e-768x512-s2-taesd-depth "${WIDE[@]}" --steps 2 --no-compile --modes pipelined "${DEPTH[@]}" --frames "$FRAMES"
bench e-512-s2-fullvae-depth "${SQUARE[@]}" --steps 2 --no-compile --modes pipelined --vae full "${DEPTH[@]}" --frames "$FRAMES"
bench e-512-s2-taesd-nodepth "${SQUARE[@]}" --steps 2 --no-compile --modes pipelined --depth none --frames "$FRAMES"
echo "=== pytest -m gpu"
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/engine tests/depth > "$OUT/pytest-gpu.log" 2>&1
echo "pytest -m gpu: exit $? ($(tail -n 1 "$OUT/pytest-gpu.log"))"
bench c-768x512-s2-taesd-depth "${WIDE[@]}" --steps 2 "$COMPILED" --modes pipelined "${DEPTH[@]}" --frames "$FRAMES"
bench c-512-s2-taesd-nodepth "${SQUARE[@]}" --steps 2 "$COMPILED" --modes pipelined --depth none --frames "$FRAMES"
bench c-512-s134-taesd-depth "${SQUARE[@]}" --steps 1 3 4 "$COMPILED" --modes pipelined "${DEPTH[@]}" --frames "$FRAMES"
bench c-512-s2-fullvae-depth "${SQUARE[@]}" --steps 2 "$COMPILED" --modes pipelined --vae full "${DEPTH[@]}" --frames "$FRAMES"

# 5. The table for BENCHMARKS.md.
"$PY" - "$OUT/bench.jsonl" > "$OUT/table.md" << 'PYEOF'
import json, sys
print("| config | mode | steps | size | compile | vae | depth | FPS | latency p50/p95 ms | peak GB | MFU frame/UNet | TFLOP/frame |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "fps" not in r:
        print(f"| {r['config']} | {r.get('skipped') or r.get('failed')} |" + " |" * 10)
        continue
    mfu = f"{r.get('mfu_frame', 'n/a')}/{r.get('mfu_unet', 'n/a')}"
    print(f"| {r['config']} | {r['mode']} | {r['steps']} | {r['resolution']} | {r['compile']} | "
          f"{r['vae']} | {r['depth']} ({r.get('depth_runtime')}) | {r['fps']} | "
          f"{r['latency_ms_p50']}/{r['latency_ms_p95']} | {r.get('peak_memory_gb', 'n/a')} | "
          f"{mfu} | {r['tflop_per_frame']['total']} |")
PYEOF
cat "$OUT/table.md"
echo "done in $(( $(date +%s) - START ))s; results in $OUT"
