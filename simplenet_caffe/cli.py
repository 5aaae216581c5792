"""Command-line conventions shared by every script in tools/ and data_prep/.

* Bad input raises :class:`simplenet_caffe.errors.UserError`; :func:`run` prints it as one line
  (``<prog>: error: <message>``) and exits with status 2 -- never a traceback.
* Ctrl-C exits 130 with one line.
* Long loops use :func:`simplenet_caffe.progress.progress`.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from .errors import UserError


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
