"""Test-wide environment, set before torch or Qt is imported (subprocesses inherit it).

* One intra-op thread: the test models are tiny, and on 2 cores OpenMP threads cost more in
  hand-offs than they save (measured: 42 ms vs 65 ms per tiny engine step).
* No test reaches the Hugging Face hub: offline mode makes a missing model fail at once instead
  of after the client's retries.
* Qt draws offscreen unless a test starts Xvfb and says otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
