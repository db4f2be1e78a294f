"""`python -m asr_kd.edge` = `asr-kd-edge`."""

import sys

from asr_kd.edge.cli import main

sys.exit(main())
