"""``simplenet-zoo``: the authors' released weights by name (docs/zoo.md).

  tools/zoo.py list                     the entries: name, net, size, checksum, top-1 and on what data
  tools/zoo.py get mnist_s300a          fetch, check the sha256; the caffemodel's path is the last line
  tools/zoo.py get imagenet_5m_m2       fetch the .pth, check its sha256 prefix, convert it (verified)

Models are kept in $SIMPLENET_MODEL_DIR (default ~/.cache/simplenet-caffe/models).
$SIMPLENET_MODEL_MIRROR=BASE fetches BASE/<path of the upstream URL> instead (an offline mirror;
file:// works). A download whose checksum differs is discarded: one error line, exit 2.
"""
from __future__ import annotations

import argparse

from simplenet_caffe.cli import run
from simplenet_caffe.export import zoo


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="list the entries")
    ls.add_argument("--urls", action="store_true", help="also print each entry's URL (after the mirror)")
    g = sub.add_parser("get", help="fetch (and check, and convert) one entry; prints its caffemodel path last")
    g.add_argument("name", help="entry name (see `list`)")
    g.add_argument("--dir", help="keep the files here (default: $SIMPLENET_MODEL_DIR or ~/.cache/simplenet-caffe/models)")
    g.add_argument("--mirror", help="base URL of a mirror (default: $SIMPLENET_MODEL_MIRROR)")
    a = ap.parse_args(argv)

    if a.cmd == "list":
        print(f"{'name':<22} {'net (deploy prototxt)':<48} {'size':>10}  checksum")
        for e in zoo.ZOO.values():
            size = f"{e.size:,}" if e.size else "-"
            print(f"{e.name:<22} {e.deploy:<48} {size:>10}  {e.check}")
            print(f"{'':<22} top-1: {e.top1}" + (" -> converted to a caffemodel" if e.converted else ""))
            if a.urls:
                print(f"{'':<22} {zoo.url_of(e)}")
        print(f"models folder: {zoo.model_dir()}")
        return 0
    print(zoo.get(a.name, mirror=a.mirror, dest=a.dir))
    return 0


def entry() -> None:
    """The ``simplenet-zoo`` command (also ``tools/zoo.py``)."""
    run(main)
