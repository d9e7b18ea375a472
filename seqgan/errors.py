"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, corrupt checkpoint): message says the fix."""
