"""Step 3 of `make_golden.sh`, in OUR environment: one .npz for the test, from the run's files.

Usage: python tools/golden/pack.py OUT COMMIT DEST
Holds the inputs both sides got (frames, raw depth, noise and timestep indices per number of
steps, prompt), the original's x0 latents (as released and stale-masked), the original's commit
and the model's fingerprint, which the test checks before comparing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tools.golden.model import build_golden_model, fingerprint


def main(out: Path, commit: str, dest: Path) -> None:
    arrays = {**np.load(out / "inputs.npz"), **np.load(out / "latents.npz")}
    meta = {"commit": commit, "fingerprint": fingerprint(build_golden_model())}
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, meta=np.array(json.dumps(meta)), **arrays)
    print(f"wrote {dest} ({dest.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
