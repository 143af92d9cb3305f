#!/usr/bin/env bash
# Golden frames from the authors' Live2Diff code, in one command (see README.md beside this).
#
#   tools/golden/make_golden.sh LIVE2DIFF_GIT [WORK_DIR]
#
# LIVE2DIFF_GIT: a clone (or bare mirror) of github.com/open-mmlab/Live2Diff holding $COMMIT.
# WORK_DIR: where the original's venv, its patched source and the run's files go (default: a
# new temporary folder; reusing one keeps its venv). Run from anywhere, with our environment's
# python first on PATH (or PYTHON=/path/to/python). Writes tests/data/golden_live2diff.npz.
set -euo pipefail

COMMIT=e40aa03a9a9d17f1232fd7a4566b3ee793e6893f  # open-mmlab/Live2Diff, 2024-07-22, "support colab"
SOURCE=${1:?usage: make_golden.sh LIVE2DIFF_GIT [WORK_DIR]}
WORK=$(realpath "${2:-$(mktemp -d -t live2diff-golden.XXXXXX)}")
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python}
HERE="$REPO/tools/golden"

echo "== 1/5 the original's environment in $WORK/venv (diffusers 0.25.0, CPU torch)"
if [ ! -x "$WORK/venv/bin/python" ]; then
    "$PYTHON" -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install --quiet -r "$HERE/requirements.txt"

echo "== 2/5 the original's source at $COMMIT, patched for the CPU"
git -C "$SOURCE" cat-file -e "$COMMIT^{commit}" || {
    echo "error: $SOURCE does not hold commit $COMMIT of open-mmlab/Live2Diff" >&2
    exit 1
}
rm -rf "$WORK/live2diff"
mkdir -p "$WORK/live2diff"
git -C "$SOURCE" archive "$COMMIT" live2diff configs | tar -x -C "$WORK/live2diff"
patch --quiet --forward -d "$WORK/live2diff" -p1 < "$HERE/cpu.patch"

echo "== 3/5 the small random model and the inputs (our environment)"
rm -rf "$WORK/out"
mkdir -p "$WORK/out"
PYTHONPATH="$REPO" "$PYTHON" "$HERE/write_inputs.py" "$WORK/out"

echo "== 4/5 the authors' streaming pipeline (a few minutes on 2 cores)"
(cd "$WORK" && "$WORK/venv/bin/python" "$HERE/run_original.py" "$WORK/live2diff" "$WORK/out")

echo "== 5/5 packing"
PYTHONPATH="$REPO" "$PYTHON" "$HERE/pack.py" "$WORK/out" "$COMMIT" "$REPO/tests/data/golden_live2diff.npz"
