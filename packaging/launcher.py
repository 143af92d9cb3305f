"""PyInstaller entry point of the one-folder app: the `live2diff-cam` command line.

A frozen app has no `python -m`; this script is what the bundled executable runs. It adds
nothing to the CLI: no argument opens the GUI, sub-commands work as in a pip install.
"""

import multiprocessing
import sys

from live2diff_cam.cli import main

if __name__ == "__main__":
    # A frozen app re-runs itself for child processes; this stops them from starting a CLI.
    multiprocessing.freeze_support()
    sys.exit(main())
