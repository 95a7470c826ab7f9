"""The one exception type users see: its message is a complete one-line explanation."""


class CoocError(Exception):
    """A problem with input, configuration or an index; the CLI prints it on one line and exits non-zero."""


class ReadError(CoocError):
    """A corpus file cannot be read (missing, unsupported, corrupt, or lacks the text field)."""


class IndexFormatError(CoocError):
    """A directory is not a cooc index, or was written by an incompatible version."""
