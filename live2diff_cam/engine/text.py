"""Prompt -> CLIP text embedding, with the original Live2Diff's `clip_skip` convention.

`clip_skip` counts transformer layers skipped from the end of CLIP's text encoder, as the
authors' pipeline counts them: the embedding is the hidden state `clip_skip` layers before the
last one, passed through the encoder's final layer norm. So 0 is the plain last layer (what
`CLIPTextModel` returns), 1 (Live2Diff's default) the penultimate layer, 2 the one before. This
is one more than the "CLIP skip" of other UIs (A1111's 2 is Live2Diff's 1).

Owns only the tokenizer + text-encoder call; it knows nothing of the engine or where the
embedding goes.
"""

from __future__ import annotations

import torch
from transformers import CLIPTextModel, CLIPTokenizer

from live2diff_cam.errors import EngineError


def encode_prompt(
    tokenizer: CLIPTokenizer,
    text_encoder: CLIPTextModel,
    prompt: str,
    clip_skip: int,
    device: torch.device | str,
    dtype: torch.dtype,
) -> torch.Tensor:
    """(1, 77, D) embedding of `prompt` (padded/truncated to the tokenizer's length)."""
    layers = text_encoder.config.num_hidden_layers
    if not 0 <= clip_skip < layers:
        raise EngineError(
            f"clip_skip {clip_skip} is out of range for a {layers}-layer text encoder "
            f"(0 = last layer, 1 = penultimate, up to {layers - 1})"
        )
    ids = tokenizer(
        prompt,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(device)
    with torch.inference_mode():
        output = text_encoder(ids, output_hidden_states=True)
        # hidden_states[0] is the token embedding, [i] the output of layer i (before the final
        # norm); the model's own output is final_layer_norm(hidden_states[-1]).
        hidden = output.hidden_states[-(clip_skip + 1)]
        return _final_layer_norm(text_encoder)(hidden).to(dtype)


def _final_layer_norm(text_encoder: CLIPTextModel) -> torch.nn.Module:
    # transformers < 5 nests the transformer under `text_model`; 5.x puts it on the model.
    inner = getattr(text_encoder, "text_model", text_encoder)
    return inner.final_layer_norm
