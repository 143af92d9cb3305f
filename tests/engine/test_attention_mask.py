"""The Fig. 1(d) rule in both of its forms: the clip mask and the streaming cache slots."""

from __future__ import annotations

import torch

from live2diff_cam.engine.attention_mask import clip_attention_mask, stream_slots


def test_clip_mask_is_warmup_bidirectional_then_causal_window():
    mask = clip_attention_mask(16, warmup=8, window=16)
    # Warmup frames see each other both ways and nothing after them.
    assert mask[:8, :8].all()
    assert not mask[:8, 8:].any()
    # Later frames: all warmup frames, themselves and earlier frames, never the future.
    for i in range(8, 16):
        assert mask[i, :8].all()
        assert mask[i, 8 : i + 1].all()
        assert not mask[i, i + 1 :].any()


def test_clip_mask_limits_recent_frames_to_the_window():
    mask = clip_attention_mask(12, warmup=4, window=8)
    # Frame 11 sees warmup 0..3 and the 4 newest frames 8..11 only.
    assert mask[11].nonzero().flatten().tolist() == [0, 1, 2, 3, 8, 9, 10, 11]


def test_stream_slots_before_the_ring_wraps_match_the_clip_layout():
    slots = stream_slots(torch.tensor([8, 12, 15]), warmup=8, window=16)
    assert slots.write_slot.tolist() == [8, 12, 15]
    assert slots.query_pos.tolist() == [8, 12, 15]
    mask = clip_attention_mask(16, 8, 16)
    for row, frame in enumerate([8, 12, 15]):
        # Slot j holds frame j until the ring wraps: the valid slots are the clip mask's row.
        assert torch.equal(slots.valid[row], mask[frame])
        assert slots.key_pos[row, : frame + 1].tolist() == list(range(frame + 1))


def test_stream_slots_roll_positions_once_the_ring_is_full():
    slots = stream_slots(torch.tensor([16, 23, 100]), warmup=8, window=16)
    # Frame 16 overwrites frame 8's slot; it is the newest, at position 15.
    assert slots.write_slot.tolist() == [8, 15, 12]
    assert slots.query_pos.tolist() == [15, 15, 15]
    assert slots.valid.all()
    assert slots.key_pos[0].tolist() == [*range(8), 15, 8, 9, 10, 11, 12, 13, 14]
    # Frame 23 fills slot 15; slots 8..15 hold frames 16..23 at positions 8..15.
    assert slots.key_pos[1].tolist() == list(range(16))
    # Warmup slots keep positions 0..7 forever; each frame sees exactly 8 recent frames.
    assert slots.key_pos[2, :8].tolist() == list(range(8))
    assert sorted(slots.key_pos[2, 8:].tolist()) == list(range(8, 16))


def test_empty_pipeline_entries_only_see_warmup_slots():
    slots = stream_slots(torch.tensor([7, 6]), warmup=8, window=16)
    assert slots.valid[:, :8].all()
    assert not slots.valid[:, 8:].any()
    # Their writes land in ring slots that the frame owning them overwrites before reading.
    assert slots.write_slot.tolist() == [15, 14]
