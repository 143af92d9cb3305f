"""`live2diff-cam export-depth`: a transformers depth model -> one cached ONNX file.

Owns the export itself (torch.onnx, opset 18; input `pixel_values` (batch, 3, h, w) float32 with
a DYNAMIC batch and a FIXED spatial size h x w = the model's training size; output
`predicted_depth` (batch, h, w)), the check that onnxruntime reproduces torch on the exported
file, and the cache: one file per source, size and opset under the user cache dir. The input
spec (size, mean, std) is stored in the file's metadata so `OnnxDepthEstimator` needs no
side file. Knows nothing about running depth in the app.

    live2diff-cam export-depth depth-anything/Depth-Anything-V2-Small-hf   # prints the .onnx path
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from live2diff_cam.depth.base import DEFAULT_DEPTH_MODEL, DepthModelSpec, known_model
from live2diff_cam.depth.onnx_estimator import SPEC_METADATA_KEY
from live2diff_cam.depth.sources import export_cache_path
from live2diff_cam.depth.torch_estimator import load_transformers_depth_model, raw_depth
from live2diff_cam.errors import DepthError

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18
EXPORTERS = ("dynamo", "torchscript")
INPUT_NAME = "pixel_values"
OUTPUT_NAME = "predicted_depth"
# onnxruntime vs torch on the exported file, relative to the output's range (float32 reorderings).
EXPORT_TOLERANCE = 1e-3


class _PixelValuesToDepth(torch.nn.Module):
    """Gives the exported graph one tensor in (`pixel_values`) and one tensor out (raw depth)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return raw_depth(self.model(pixel_values))


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    # Tracing a transformers model raises dozens of TracerWarnings about Python-side shape checks;
    # they are expected here (the spatial size is fixed on purpose) and tell a user nothing.
    # The exporter's optimiser also logs every rewrite at INFO, which floods the CLI.
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for category in (UserWarning, DeprecationWarning, FutureWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise DepthError(
            f"exporting to ONNX needs the `onnx` and `onnxscript` packages ({error}): "
            "`pip install onnx onnxscript`"
        ) from error


def export_depth_onnx(
    model: torch.nn.Module,
    spec: DepthModelSpec,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    check: bool = True,
) -> Path:
    """Export `model` (pixel_values -> depth) to ONNX at `path`; return the path.

    Batch is dynamic, the spatial size fixed at `spec`'s input size. `exporter`: "dynamo"
    (torch.export, the supported one) falls back to "torchscript" if it fails. With `check`,
    onnxruntime (CPU) must reproduce torch within EXPORT_TOLERANCE, else DepthError.
    The file is written next to `path` and renamed at the end, so a crash leaves no half file.
    """
    if exporter not in EXPORTERS:
        raise DepthError(f"unknown exporter {exporter!r}: choose one of {EXPORTERS}")
    _require_onnx()
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    wrapper = _PixelValuesToDepth(model.float().cpu()).eval()
    generator = torch.Generator().manual_seed(0)
    size = (spec.input_height, spec.input_width)
    # Batch 2 in the example: a batch of 1 would let the exporter specialise the batch to 1.
    example = torch.rand((2, 3, *size), generator=generator)

    # 1. Export (dynamo first; the TorchScript exporter copes with some models it cannot).
    order = [exporter] + [e for e in EXPORTERS if e != exporter]
    errors: list[str] = []
    for name in order:
        try:
            with _quiet_export(), torch.no_grad():
                _export_with(name, wrapper, example, partial, opset)
            break
        except Exception as error:
            errors.append(f"{name}: {str(error).strip().splitlines()[0] if str(error) else error}")
            log.warning("ONNX export with the %s exporter failed: %s", name, errors[-1])
            partial.unlink(missing_ok=True)
    else:
        raise DepthError(f"could not export the depth model to ONNX ({'; '.join(errors)})")

    # 2. Store the input spec in the file, so the file alone says how to feed it.
    proto = onnx.load(str(partial))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = SPEC_METADATA_KEY, json.dumps(asdict(spec))
    onnx.save(proto, str(partial))

    # 3. onnxruntime must reproduce torch on the example batch.
    if check:
        with torch.no_grad():
            expected = wrapper(example).numpy()
        _check_export(partial, example.numpy(), expected)
    os.replace(partial, path)
    log.info("exported %s (%dx%d, opset %d) to %s", spec.name, *size, opset, path)
    return path


def _export_with(
    exporter: str, wrapper: torch.nn.Module, example: torch.Tensor, path: Path, opset: int
) -> None:
    if exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1, max=256)
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"pixel_values": {0: batch}},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    else:
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )


def _check_export(path: Path, example: np.ndarray, expected: np.ndarray) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (example, example[:1]):  # batch 1 too: the batch axis really is dynamic
        (got,) = session.run(None, {session.get_inputs()[0].name: batch})
        want = expected[: batch.shape[0]]
        scale = max(float(np.ptp(want)), 1e-12)
        error = float(np.abs(got.reshape(want.shape) - want).max()) / scale
        if error > EXPORT_TOLERANCE:
            raise DepthError(
                f"the ONNX export differs from torch by {error:.2e} of the depth range (batch "
                f"{batch.shape[0]}, limit {EXPORT_TOLERANCE}): try `--exporter torchscript`"
            )


def export_cached(
    source: str | Path,
    *,
    size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    output: str | Path | None = None,
    force: bool = False,
    exporter: str = "dynamo",
) -> Path:
    """Export `source` (alias, hub id or local transformers folder) once; return the .onnx path.

    A cached export is reused unless `force`. The default size is the model's training size.
    """
    source = _torch_source(source)
    known = known_model(str(source))
    if output is None and size is None and known is not None:
        size = (known.spec.input_height, known.spec.input_width)
    if output is None and size is not None:
        path = export_cache_path(source, *size, opset)
        if path.is_file() and not force:
            log.info("using the cached export %s", path)
            return path
    model, spec = load_transformers_depth_model(source)
    if size is not None:
        spec = spec.with_input_size(*size)
    path = Path(output) if output is not None else export_cache_path(source, *_size(spec), opset)
    if path.is_file() and not force:
        log.info("using the cached export %s", path)
        return path
    return export_depth_onnx(model, spec, path, opset=opset, exporter=exporter)


def _size(spec: DepthModelSpec) -> tuple[int, int]:
    return spec.input_height, spec.input_width


def _torch_source(source: str | Path) -> str | Path:
    """Aliases (`depth-anything-v2-small`, `midas`) name their transformers hub repository."""
    if isinstance(source, Path) or Path(source).exists():
        return source
    known = known_model(source)
    return known.torch_repo if known is not None else source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        default=DEFAULT_DEPTH_MODEL,
        help="transformers depth model: hub id (e.g. Intel/dpt-hybrid-midas), local folder, or "
        f"alias depth-anything-v2-small | dpt-hybrid-midas (default: {DEFAULT_DEPTH_MODEL})",
    )
    parser.add_argument(
        "--output", type=Path, help="write here instead of the cache (user cache dir/depth)"
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="fixed input size of the exported model (default: the model's training size, "
        "518 518 for Depth-Anything, 384 384 for DPT-Hybrid)",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (18)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="dynamo", help="torch exporter")
    parser.add_argument("--force", action="store_true", help="export again even if cached")


def main(args: argparse.Namespace) -> int:
    path = export_cached(
        args.source,
        size=tuple(args.size) if args.size else None,
        opset=args.opset,
        output=args.output,
        force=args.force,
        exporter=args.exporter,
    )
    print(path)
    return 0
