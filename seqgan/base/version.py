"""The toolkit's version: the one place it is written (pyproject reads it; signatures and run files quote it)."""

VERSION = "0.1.0"
