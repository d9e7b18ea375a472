"""`python -m eval.human ACTION ...` runs `seqgan human-eval ACTION ...`."""

import sys

from .cli import main

sys.exit(main())
