import sys

from live2diff_cam.cli import main

sys.exit(main())
