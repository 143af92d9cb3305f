"""Step 1 of `make_golden.sh`, in OUR environment: the model files and the inputs both sides get.

Writes into OUT (argument 1):
* `model/`: the golden model (`model.py`) as a diffusers SD folder, through our
  `checkpoint_writers` (text encoder and tokenizer in the form transformers 4 reads, below);
* `live2diff.ckpt`: its motion modules + depth network in the released checkpoint layout;
* `inputs.npz`: the clip frames, raw depth maps and per-step noise (`inputs.py` says how).

Run with the repository on PYTHONPATH: `python tools/golden/write_inputs.py OUT`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from live2diff_cam.engine.checkpoint_writers import (
    write_diffusers_folder,
    write_motion_module_checkpoint,
)
from live2diff_cam.engine.models import SD15_ASSETS
from tools.golden.inputs import golden_inputs
from tools.golden.model import build_golden_model


def rekey_text_encoder_for_transformers_4(folder: Path) -> None:
    # transformers 5 saves CLIP's weights without the `text_model.` level its 4.x versions
    # (the original's environment) load them under; without it they would load nothing.
    path = folder / "text_encoder" / "model.safetensors"
    state = load_file(str(path))
    state = {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in state.items()}
    save_file(state, str(path), metadata={"format": "pt"})


def use_sd15_tokenizer_files(folder: Path) -> None:
    # transformers 5 saves only the fast tokenizer's tokenizer.json; the original loads the
    # slow CLIPTokenizer, which reads vocab.json and merges.txt: ship the real SD1.5 files.
    tokenizer = folder / "tokenizer"
    shutil.rmtree(tokenizer)
    shutil.copytree(SD15_ASSETS / "tokenizer", tokenizer)


def unet_config_in_sd15_layout(folder: Path) -> None:
    # The released SD1.5 unet/config.json names only the keys of diffusers 0.6; the original's
    # `from_pretrained_2d` relies on that (a `mid_block_type` of "UNetMidBlock2DCrossAttn", as
    # today's diffusers writes, is unknown to its 3D UNet). Keep the keys the real file has.
    path = folder / "unet" / "config.json"
    real = json.loads((SD15_ASSETS / "unet" / "config.json").read_text())
    ours = json.loads(path.read_text())
    path.write_text(json.dumps({key: ours[key] for key in real}, indent=2))


def main(out: Path) -> None:
    model = build_golden_model()
    write_diffusers_folder(model, out / "model")
    rekey_text_encoder_for_transformers_4(out / "model")
    use_sd15_tokenizer_files(out / "model")
    unet_config_in_sd15_layout(out / "model")
    write_motion_module_checkpoint(model.adapter, out / "live2diff.ckpt")
    golden_inputs().save(out / "inputs.npz")
    print(f"golden model and inputs written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
