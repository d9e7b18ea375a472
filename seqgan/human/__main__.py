"""`python -m seqgan.human ACTION ...` runs `seqgan human-eval ACTION ...`."""

import sys

from .cli import main

sys.exit(main())
