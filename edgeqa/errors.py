"""The one exception type for user mistakes: the CLI prints it as a single line, no traceback."""


class EdgeQAError(Exception):
    """Bad input or an unmet precondition the user can fix (a path, an option, a file format)."""
