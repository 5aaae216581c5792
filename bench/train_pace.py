"""Real training pace for bench_caffe.py: ``caffe train`` on the net's own LMDB and solver, and a
PyTorch training loop that reads the same LMDB.

Caffe: the net's own solver (type, learning rate, momentum, weight decay) and train_val net
(its Data layers, batch and LMDBs), run from the repo root for ``WARM + ITERS + 1`` iterations
with a display row every 10. Images/s = batch x ITERS / the seconds between the log's display
rows at iterations WARM and WARM + ITERS (glog timestamps, read by simplenet_caffe.runs.caffelog),
so start-up and the first iterations are left out. Two runs per build:

* ``train``: no test pass (``test_interval`` beyond ``max_iter``);
* ``train+test``: the net's own test schedule scaled to the short run: a test pass every
  ``TEST_INTERVAL`` iterations with ``test_iter`` in the solver's own proportion
  (mnist_s300a: 100 test batches per 600 iterations become 10 per 60), two passes in the span.

PyTorch: the twin net (bench/torch_net.py) in train mode, ``torch.optim.SGD`` with the solver's
learning rate, momentum, weight decay and Nesterov flag (PyTorch's own formulation; the same
work per parameter), batches read from the same LMDB as the loop goes (python-lmdb + the Datum
protobuf through simplenet_caffe.data.lmdbio, each batch decoded when it is needed, as a data
loader without worker processes does), images/s over ITERS iterations after WARM.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from simplenet_caffe import caffe_env, protoio
from simplenet_caffe.errors import UserError
from simplenet_caffe.paths import REPO_ROOT

WARM, ITERS, DISPLAY, TEST_INTERVAL = 10, 120, 10, 60
assert ITERS % TEST_INTERVAL == 0 and WARM < TEST_INTERVAL  # the span holds ITERS / TEST_INTERVAL test passes


def own_solver(stem: str):
    return protoio.read_solver(REPO_ROOT / "solvers" / f"{stem}_solver.prototxt")


def train_source(stem: str) -> tuple[Path, int]:
    """(LMDB folder, batch size) of the TRAIN-phase Data layer of ``stem``'s train_val net."""
    net = protoio.read_net(REPO_ROOT / own_solver(stem).net)
    pb2 = caffe_env.caffe_pb2()
    for l in net.layer:
        if l.type == "Data" and all(not r.HasField("phase") or r.phase == pb2.TRAIN for r in l.include):
            return REPO_ROOT / l.data_param.source, l.data_param.batch_size
    raise UserError(f"{stem}: its train_val net has no TRAIN Data layer")


def pace_solver(stem: str, tests: bool, tmp: Path) -> Path:
    """A copy of ``stem``'s solver for a short paced run (see the module docstring)."""
    s = own_solver(stem)
    s.net = str(REPO_ROOT / s.net)
    s.max_iter = WARM + ITERS + 1
    s.display = DISPLAY
    s.test_initialization = False
    if tests:
        if not s.test_iter or not s.test_interval:
            raise UserError(f"{stem}: its solver has no test schedule to scale")
        s.test_iter[:] = [max(1, round(n * TEST_INTERVAL / s.test_interval)) for n in s.test_iter]
        s.test_interval = TEST_INTERVAL
    else:
        s.test_interval = s.max_iter + 1
    s.snapshot, s.snapshot_after_train = 0, False
    s.snapshot_prefix = str(tmp / "snap")
    s.solver_mode = s.CPU
    path = tmp / f"{stem}_{'test' if tests else 'notest'}_solver.prototxt"
    protoio.write_text(path, s)
    return path


def caffe_train_pace(measured, caffe: str, stem: str, tests: bool) -> tuple[float, float]:
    """(images/s, peak RSS MiB) of ``caffe train`` as described above; ``measured`` is
    bench_caffe's runner (exit code, stdout, stderr, RSS)."""
    from simplenet_caffe.runs.caffelog.reader import read_segments
    _, batch = train_source(stem)
    with tempfile.TemporaryDirectory() as tmp:
        solver = pace_solver(stem, tests, Path(tmp))
        rc, _, err, rss = measured([caffe, "train", "-solver", str(solver)], caffe_env.tool_env(), cwd=REPO_ROOT)
        if rc != 0:
            raise UserError(f"{caffe} train ({stem}) failed: {err.strip()[-600:]}")
        log = Path(tmp) / "train.log"
        log.write_text(err)
        segs = read_segments(log).segments
    rows = segs[-1].train if segs else {}
    if WARM not in rows or WARM + ITERS not in rows:
        raise UserError(f"{caffe} train ({stem}): no display rows at iterations {WARM} and {WARM + ITERS} in its log")
    seconds = rows[WARM + ITERS]["seconds"] - rows[WARM]["seconds"]
    if seconds <= 0:
        raise UserError(f"{caffe} train ({stem}): the log's timestamps do not advance")
    if tests and len([k for k in segs[-1].test if WARM < k[0] <= WARM + ITERS]) != ITERS // TEST_INTERVAL:
        raise UserError(f"{caffe} train ({stem}): expected {ITERS // TEST_INTERVAL} test passes in the timed span")
    return batch * ITERS / seconds, rss


def lmdb_batches(source: Path, batch: int):
    """Endless (N x C x H x W float32, N labels int64) batches in key order, decoded as they are
    taken (the LMDB is read again from the start when it ends, as Caffe's Data layer does)."""
    from simplenet_caffe.data.lmdbio import read_lmdb
    while True:
        arrays, labels = [], []
        for _, a, label in read_lmdb(source):
            arrays.append(a)
            labels.append(label)
            if len(arrays) == batch:
                yield np.stack(arrays).astype(np.float32, copy=False), np.asarray(labels, dtype=np.int64)
                arrays, labels = [], []


def torch_train_pace(net, chw, stem: str, channels_last: bool) -> float:
    """Images/s of the PyTorch training loop described above."""
    import torch
    import torch_net  # beside this script: bench/ is first on sys.path when it runs
    torch.set_num_threads(os.cpu_count() or 1)
    s = own_solver(stem)
    source, batch = train_source(stem)
    model, loss_fn = torch_net.build(torch, net, chw)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=s.base_lr, momentum=s.momentum,
                          weight_decay=s.weight_decay, nesterov=s.type == "Nesterov")
    data = lmdb_batches(source, batch)
    t0 = None
    for it in range(WARM + ITERS):
        if it == WARM:
            t0 = time.perf_counter()
        x, y = next(data)
        x = torch.from_numpy(x).contiguous(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), torch.from_numpy(y)).backward()
        opt.step()
    return batch * ITERS / (time.perf_counter() - t0)
