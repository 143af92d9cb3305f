"""The stream step compiles to ONE graph with no graph break and no recompilation, and the
compiled engine gives the eager engine's frames (static shapes, device-side slot index).

Slow on a CPU (inductor compiles C++ and autotunes: ~4 minutes on 2 cores): `pytest -m slow`.
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import make_engine, max_abs_diff, run_stream


@pytest.mark.slow
def test_compiled_stream_step_is_one_graph_and_gives_the_same_frames(tiny_model, clip_frames):
    from torch._dynamo.utils import counters

    eager = run_stream(make_engine(tiny_model, depth=False), clip_frames[:24])
    counters.clear()
    compiled = run_stream(make_engine(tiny_model, depth=False, compile=True), clip_frames[:24])
    assert max_abs_diff(eager, compiled) <= 1
    # 16 stream calls, one capture: nothing in the step changes shape or forces a re-trace.
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"]
