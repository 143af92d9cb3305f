"""Which frames a frame may attend to: the warmup + causal window of paper Fig. 1(d).

Two views of the same rule:

* `clip_attention_mask` is the (F, F) mask over a whole clip (training, the offline reference,
  the warmup pass): warmup frames see each other both ways; a later frame sees the warmup frames,
  itself and at most `window - warmup - 1` frames before it; never a future frame.
* `stream_slots` is that rule for one new frame in the fixed-size cache of Fig. 4: which slot it
  writes, which slots it may read, and the position each slot has from its point of view.

All tensor maths, no `.item()`: the frame index lives on the device so a captured graph replays.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def clip_attention_mask(num_frames: int, warmup: int, window: int, device=None) -> torch.Tensor:
    """(F, F) bool, True where query frame i may attend to key frame j."""
    i = torch.arange(num_frames, device=device)[:, None]
    j = torch.arange(num_frames, device=device)[None, :]
    sees_warmup = j < warmup
    sees_recent = (j >= warmup) & (j <= i) & (i - j < window - warmup)
    return sees_warmup | sees_recent


@dataclass(frozen=True)
class StreamSlots:
    """Cache bookkeeping for B frames entering the cache at once (one per denoising step).

    write_slot: (B,) slot each frame's keys/values go to.
    key_pos:    (B, L) position encoding index of every slot, seen from that frame.
    query_pos:  (B,) the frame's own position.
    valid:      (B, L) True where the slot holds a frame the query may see (itself included).
    """

    write_slot: torch.Tensor
    key_pos: torch.Tensor
    query_pos: torch.Tensor
    valid: torch.Tensor


def stream_slots(frame_index: torch.Tensor, warmup: int, window: int) -> StreamSlots:
    """Slots for B frames with stream indices `frame_index` (B,) long.

    Slots [0, warmup) hold frames 0..warmup-1 at positions 0..warmup-1 for the whole stream.
    Slots [warmup, window) are a ring: frame n >= warmup lives in slot
    warmup + (n - warmup) % ring. Until the ring is full, frame n has position n; after that
    positions roll so the newest frame sits at window - 1 and older ones count down.
    A frame index below `warmup` (an empty pipeline entry) writes into a ring slot that no
    real frame reads before overwriting it, and sees only the warmup slots.
    """
    ring = window - warmup
    n = frame_index.to(torch.long)[:, None]  # (B, 1)
    slot = torch.arange(window, device=n.device)[None, :]  # (1, L)
    # The newest frame m <= n stored in each ring slot: m = n - ((n - slot) mod ring).
    slot_frame = n - torch.remainder(n - slot, ring)
    shift = torch.clamp(n - (window - 1), min=0)
    in_ring = slot >= warmup
    key_pos = torch.where(in_ring, slot_frame - shift, slot).clamp(0, window - 1)
    valid = torch.where(in_ring, slot_frame >= warmup, torch.ones_like(in_ring))
    write_slot = warmup + torch.remainder(n[:, 0] - warmup, ring)
    query_pos = (n[:, 0] - shift[:, 0]).clamp(0, window - 1)
    return StreamSlots(write_slot=write_slot, key_pos=key_pos, query_pos=query_pos, valid=valid)
