"""`python -m asr_kd` is `asr-kd`; the form torchrun launches: `torchrun --nproc_per_node=N -m asr_kd train ...`."""

import sys

from asr_kd.cli import main

if __name__ == "__main__":
    sys.exit(main())
