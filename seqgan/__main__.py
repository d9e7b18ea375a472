"""`python -m seqgan COMMAND ...` runs `seqgan COMMAND ...`; it is how torchrun starts each process:
`torchrun --nproc_per_node N -m seqgan train ...`."""

import sys

from cli import main

sys.exit(main())
