"""The project's error type for bad input: one line for the user, exit status 2."""
from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input or environment (a missing or unreadable file, a bad
    argument, a net that does not parse); :func:`simplenet_caffe.cli.run` prints it as one line
    (``<prog>: error: <message>``) and exits with status 2 -- never a traceback."""

    exit_code = 2
