"""The Caffe log parser: every log `caffe train` / `caffe test` writes, old and new.

One parser for the whole project (tools/parse_log.py, plotting, results tables and the
live progress line of tools/train.py all use it). Its parts:

* :mod:`.grammar` -- the message patterns and number tokens of a glog line;
* :mod:`.reader` -- :class:`LogReader`: lines of one file (or a live stream) into
  :class:`Segment` s (one per Caffe session), with per-line warnings and notes;
* :mod:`.run` -- :class:`CaffeLog`: segments stitched into one run's train/test tables, the
  queries on them (best/final test, wall time, s/100 it), :func:`parse`, :func:`parse_runs`;
* :mod:`.tables` -- :class:`Table` and its CSV/JSON forms; :mod:`.bvlc` -- BVLC Caffe's
  ``parse_log.py`` output format;
* :mod:`.runfiles` -- the run-folder naming (``caffe.log``, ``caffe.1.log``, ...).
"""
from .reader import LogReader, Segment, read_segments
from .run import CaffeLog, parse, parse_run_spec, parse_run_specs, parse_runs, run_stats, split_runs
from .runfiles import RUN_LOG_RE, expand_log_paths, run_logs, run_name_for, session_log_name
from .tables import Table

__all__ = ["CaffeLog", "Segment", "Table", "LogReader", "parse", "parse_runs", "parse_run_spec", "parse_run_specs",
           "read_segments", "run_stats", "split_runs", "expand_log_paths", "run_logs", "run_name_for",
           "session_log_name", "RUN_LOG_RE"]
