"""The useful sentence out of the long errors PyTorch and diffusers raise while loading.

`shape_mismatch` finds the first "size mismatch" of a state-dict load (the key and both
shapes); `pickle_warning` keeps PyTorch's own safety warning from a refused pickle. The loaders
put these into their `ModelLoadError`s. It knows nothing about models or files.
"""

from __future__ import annotations

import re

_SIZE_MISMATCH = re.compile(
    r"size mismatch for (?P<key>\S+): copying a param with shape "
    r"torch\.Size\((?P<file>\[[^\]]*\])\) from checkpoint, "
    r"the shape in current model is torch\.Size\((?P<model>\[[^\]]*\])\)"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def shape_mismatch(error: BaseException) -> str | None:
    """'KEY has shape [5, 32] in the file, [4, 32] in the model' for the first mismatch."""
    found = _SIZE_MISMATCH.search(str(error))
    if found is None:
        return None
    return (
        f"{found['key'].removesuffix(':')} has shape {found['file']} in the file, "
        f"{found['model']} in the model"
    )


def pickle_warning(error: BaseException) -> str:
    """PyTorch's sentence on what a `weights_only=False` retry risks, or a summary of it."""
    text = _ANSI.sub("", str(error))
    for sentence in re.split(r"(?<=\.)\s+", text):
        if "arbitrary code execution" in sentence:
            return sentence.strip().removeprefix("(1) ")
    return "loading it fully would run code stored in the file"
