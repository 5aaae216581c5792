"""The project's error type for bad input: one line for the user, exit status 2."""
from __future__ import annotations

import difflib


class UserError(Exception):
    """An error caused by the user's input or environment (a missing or unreadable file, a bad
    argument, a net that does not parse); :func:`simplenet_caffe.cli.run` prints it as one line
    (``<prog>: error: <message>``) and exits with status 2 -- never a traceback."""

    exit_code = 2


def unknown(what: str, name: str, known, see: str = "") -> UserError:
    """The error for a ``name`` that is not one of ``known`` (e.g. what="experiment"): it names the
    closest known names ("did you mean") or, failing that, where the list is (``see``) or the list."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6) or [k for k in known if name.lower() in k.lower()][:3]
    msg = f"unknown {what} {name!r}"
    if close:
        msg += "; did you mean " + " or ".join(close) + "?"
    if see:
        msg += f" ({see})"
    elif not close:
        msg += f" (known: {', '.join(known)})"
    return UserError(msg)
