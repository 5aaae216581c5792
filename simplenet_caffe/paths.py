"""Where things live: the repo root and the default folders of generated outputs.

All paths inside generated prototxt/solvers are relative to REPO_ROOT, so `caffe train
-solver solvers/X.prototxt` works when run from the repo root.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"          # LMDBs, mean files, downloaded raw datasets (ignored by git)
LOGS_DIR = REPO_ROOT / "logs"          # caffe logs, snapshots (ignored by git)
PLOTS_DIR = REPO_ROOT / "plots"        # figures and tables (ignored by git)
PROTOTXT_DIR = REPO_ROOT / "prototxt"  # generated nets (committed)
SOLVERS_DIR = REPO_ROOT / "solvers"    # generated solvers (committed)
SHARED_DIR = Path(os.environ.get("SIMPLENET_SHARED", REPO_ROOT.parent / "shared"))
