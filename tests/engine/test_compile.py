"""The stream step compiles to ONE graph with no graph break and no recompilation, and the
compiled engine gives the eager engine's frames (static shapes, device-side slot index, state
in module buffers updated in place).

Slow on a CPU (inductor compiles C++: minutes on 2 cores): `pytest -m slow`.
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import make_engine, max_abs_diff


def _stream_with_live_changes(engine, frames) -> list:
    """50 stream calls with a prompt change and a strength change in between (both re-prime
    in place, outside the compiled step; neither may re-trace it)."""
    outputs = []
    for i, frame in enumerate(frames):
        if i == 20:
            engine.set_prompt("an oil painting, thick brush strokes")
        if i == 35:
            engine.set_strength(0.7)
        out = engine.step(frame)
        while out is not None:
            outputs.append(out)
            out = engine.pop_finished()
    return outputs + engine.flush()


@pytest.mark.slow
@pytest.mark.timeout(3600)  # C++ compilation on 2 busy cores
def test_compiled_stream_step_is_one_graph_and_gives_the_same_frames(tiny_model, clip_frames):
    from torch._dynamo.utils import counters

    frames = (clip_frames * 2)[:58]  # 8 warmup frames + 50 stream calls
    eager = _stream_with_live_changes(make_engine(tiny_model), frames)
    counters.clear()
    engine = make_engine(tiny_model, compile=True)
    engine.warm_up()
    compiled = _stream_with_live_changes(engine, frames)
    assert len(eager) == len(compiled) == len(frames)
    assert max_abs_diff(eager, compiled) <= 1
    # One capture for the whole run: nothing in the step changes shape or forces a re-trace.
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"]
    assert counters["recompiles"] == {} or sum(counters["recompiles"].values()) == 0
