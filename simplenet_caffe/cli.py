"""Command-line conventions shared by every script in tools/ and data_prep/.

* Bad input raises :class:`simplenet_caffe.errors.UserError`; :func:`run` prints it as one line
  (``<prog>: error: <message>``) and exits with status 2 -- never a traceback.
* Ctrl-C exits 130 with one line.
* Long loops use :func:`simplenet_caffe.progress.progress`.
* Advice that names an option goes through :func:`option_hint`: under ``make`` (the Makefile sets
  ``SIMPLENET_UNDER_MAKE=1`` for the commands it runs) it names the make variable instead.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from .errors import UserError

UNDER_MAKE_ENV = "SIMPLENET_UNDER_MAKE"


def option_hint(option: str, make_var: str) -> str:
    """How to spell an option in advice printed to the user: ``make_var`` (e.g. ``"RESUME=1"``)
    when the command was started by the Makefile, else ``option`` (e.g. ``"--resume"``)."""
    return make_var if os.environ.get(UNDER_MAKE_ENV) == "1" else option


def split_passthrough(argv: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """``(own args, args after "--")`` of a command that passes the rest on (to ``caffe train``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1:]


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a script's ``main(argv)`` and turn its outcome into an exit status."""
    prog = os.path.basename(sys.argv[0]) or "simplenet"
    try:
        rc = main(argv)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(int(rc or 0))
