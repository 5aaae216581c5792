"""(Re)write prototxt/ and solvers/ from the variant and experiment tables, or check them.

  tools/gen_prototxt.py            write every changed file (train_val, deploy, solver, README)
  tools/gen_prototxt.py --check    exit 1 and list the files that differ from the generator
  tools/gen_prototxt.py --list     list the experiments
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simplenet_caffe.cli import run
from simplenet_caffe.errors import UserError
from simplenet_caffe.nets import generate
from simplenet_caffe.nets.experiments import EXPERIMENTS
from simplenet_caffe.paths import REPO_ROOT


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="compare committed files with generator output; "
                   "exit 1 listing every difference")
    g.add_argument("--list", action="store_true", help="print the experiment names and exit")
    ap.add_argument("--root", type=Path, default=None, help="repository root to write/check (default: this repo)")
    ap.add_argument("--remove-stale", action="store_true",
                    help="delete generated .prototxt files that no experiment produces any more")
    args = ap.parse_args(argv)

    root = args.root or REPO_ROOT
    if not root.is_dir():
        raise UserError(f"--root {root}: not a directory")
    if args.list:
        for e in EXPERIMENTS.values():
            print(f"{e.name:34s} {e.variant:16s} {e.data.layout:18s} reported {e.reported}")
        return 0
    if args.check:
        problems = generate.check(root)
        if problems:
            print(f"{len(problems)} generated file(s) out of date; run tools/gen_prototxt.py:", file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            return 1
        print(f"ok: {len(generate.render())} generated files match")
        return 0
    written, removed = generate.write_all(root, remove_stale=args.remove_stale)
    for w in written:
        print(f"wrote {w}")
    for r in removed:
        print(f"removed {r}")
    print(f"{len(written)} written, {len(removed)} removed, {len(generate.render()) - len(written)} unchanged")
    return 0


def entry() -> None:
    """The ``simplenet-gen-prototxt`` command (also ``tools/gen_prototxt.py``)."""
    run(main)
