"""Field-by-field comparison of the solver and nets a Caffe log printed with a solver and net of ours.

Caffe prints, at the start of a training session, the ``SolverParameter`` it runs
("Initializing solver from parameters:") and each net it builds ("Initializing net from
parameters:", the TRAIN net first, then the TEST net(s)); the nets are printed after Caffe's
upgrades and after the phase filter, before split layers are inserted. This module parses those
texts into ``caffe_pb2`` messages (:func:`printed_params`) and compares them with a solver and
net of ours (:func:`compare`) on *effective* values: an unset field counts as its default in
``caffe.proto`` (``stride`` unset = 1, ``bias_filler`` unset = constant 0, a missing param spec =
lr_mult 1 / decay_mult 1, ``use_global_stats`` unset = phase is TEST, ``type`` unset = SGD).

Normalised away, because they do not change the maths (each is listed in the report):

* layer and blob names: layers are matched by their position (aligned by type), a bottom by the
  layer that produced it, so an in-place layer (top = bottom) and one writing a new blob compare
  equal;
* BatchNorm param specs: Caffe keeps the three statistics blobs out of the solver whether the
  prototxt gives three ``lr_mult: 0`` specs, Caffe's upgrade cleared them, or none were given (a
  nonzero lr_mult is reported: Caffe refuses it);
* data source paths, the solver's net paths and ``snapshot_prefix``; ``train_state`` /
  ``test_state`` (the printed nets are already filtered by them).

Solver fields that only schedule bookkeeping (display, snapshots, test schedule, device) are still
reported, with a note.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from google.protobuf.descriptor import FieldDescriptor as F

from ..caffe_env import caffe_pb2
from ..errors import UserError
from ..protoio import in_phase, parse_text

#: Solver fields that do not take part in the training maths (reported, with this note).
BOOKKEEPING = {
    "display": "log interval only", "average_loss": "display smoothing only",
    "snapshot": "snapshot interval only", "snapshot_format": "snapshot file format only",
    "snapshot_diff": "snapshot content only", "snapshot_after_train": "snapshot only",
    "test_interval": "when the test runs, not training", "test_initialization": "an extra test at iteration 0",
    "test_iter": "how many test batches one test covers", "test_compute_loss": "test output only",
    "debug_info": "logging only", "solver_mode": "device", "device_id": "device",
    "layer_wise_reduce": "multi-GPU communication only",
    "random_seed": "the run's random draws (fillers, dropout)",
}
#: Solver fields that name files or carry the nets (the nets are compared layer by layer).
_SOLVER_SKIP = {"net", "net_param", "train_net", "test_net", "train_net_param", "test_net_param",
                "train_state", "test_state", "snapshot_prefix", "solver_type", "type"}
_LAYER_SKIP = {"name", "type", "bottom", "top", "phase", "include", "exclude", "param", "blobs"}
_SOURCES = ("data_param", "image_data_param", "hdf5_data_param", "window_data_param")
_SOLVER_TYPES = {"SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
                 "ADADELTA": "AdaDelta", "ADAM": "Adam"}
#: Learnable blobs per layer type: (role names) -- see each layer's LayerSetUp in Caffe.
_WEIGHT_BIAS = ("Convolution", "Deconvolution", "InnerProduct", "Embed")


@dataclass
class Diff:
    """One difference: ``section`` is "solver", "TRAIN" or "TEST"; ``layer`` "theirs / ours"."""

    section: str
    layer: str
    ltype: str
    field: str
    theirs: str
    ours: str
    note: str = ""


@dataclass
class Comparison:
    """What :func:`compare` found: the differences, what was normalised away, what was compared."""

    diffs: list[Diff] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)
    decay: dict = field(default_factory=dict)        # phase -> (theirs, ours) decayed-blob summaries
    sources: dict = field(default_factory=dict)      # "log" / "solver" / "net" -> path shown in the report

    def to_markdown(self) -> str:
        out = ["# Caffe log vs our solver and net, field by field", ""]
        for k in ("log", "solver", "net"):
            if k in self.sources:
                out.append(f"- {k}: `{self.sources[k]}`")
        out += [f"- compared: {', '.join(self.compared)}",
                f"- **{len(self.diffs)} difference{'s' if len(self.diffs) != 1 else ''}** in effective values"
                + (" (below)" if self.diffs else ""), ""]
        out += ["## Normalised away (no effect on the maths)", ""] + [f"- {n}" for n in self.normalised] + [""]
        if self.decay:
            out += ["## Learnable blobs the weight decay reaches (lr_mult > 0 and decay_mult > 0)", "",
                    "| net | authors' log | ours |", "|---|---|---|"]
            out += [f"| {ph} | {a} | {b} |" for ph, (a, b) in self.decay.items()] + [""]
        solver = [d for d in self.diffs if d.section == "solver"]
        nets = [d for d in self.diffs if d.section != "solver"]
        out += ["## Solver differences", ""]
        if solver:
            out += ["| field | authors' log | ours | note |", "|---|---|---|---|"]
            out += [f"| {d.field} | {_cell(d.theirs)} | {_cell(d.ours)} | {d.note} |" for d in solver]
        else:
            out.append("None.")
        out += ["", "## Net differences", ""]
        if nets:
            out += ["| net | layer (log / ours) | type | field | authors' log | ours | note |",
                    "|---|---|---|---|---|---|---|"]
            out += [f"| {d.section} | {d.layer} | {d.ltype} | {d.field} | {_cell(d.theirs)} | {_cell(d.ours)} "
                    f"| {d.note} |" for d in nets]
        else:
            out.append("None.")
        return "\n".join(out) + "\n"


def _cell(v: str) -> str:
    return v.replace("|", "\\|") if v else "—"


# -- parsing what the log printed ---------------------------------------------------------------

def printed_params(solver_text: str, net_texts: list[str], where: str):
    """(SolverParameter, {"TRAIN": NetParameter, "TEST": NetParameter}) from the texts Caffe
    printed (``Segment.solver_text`` / ``Segment.net_texts``); the first net of each phase."""
    pb2 = caffe_pb2()
    solver = parse_text(solver_text, "SolverParameter", "printed SolverParameter", f"{where} (solver block)")
    nets: dict = {}
    for i, text in enumerate(net_texts):
        net = parse_text(text, "NetParameter", "printed NetParameter", f"{where} (net block {i + 1})")
        phase = pb2.Phase.Name(net.state.phase)
        nets.setdefault(phase, net)
    return solver, nets


def filter_net(net, phase: str):
    """Caffe's phase filter (FilterNet) of ``net``: a copy with the layers of ``phase`` only."""
    pb2 = caffe_pb2()
    out = pb2.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    for lp in net.layer:
        if in_phase(lp, phase):
            out.layer.add().CopyFrom(lp)
    out.state.phase = pb2.Phase.Value(phase)
    return out


def uses_stage_rules(net) -> bool:
    """Whether any layer rule looks at stages or levels (which :func:`filter_net` does not apply)."""
    for lp in net.layer:
        for r in list(lp.include) + list(lp.exclude):
            if len(r.stage) or len(r.not_stage) or r.HasField("min_level") or r.HasField("max_level"):
                return True
    return False


# -- effective values ---------------------------------------------------------------------------

def _fmt(fd, v) -> str:
    if fd.type == F.TYPE_FLOAT:
        return f"{v:.7g}"
    if fd.type == F.TYPE_DOUBLE:
        return f"{v:.15g}"
    if fd.type == F.TYPE_BOOL:
        return "true" if v else "false"
    if fd.type == F.TYPE_ENUM:
        ev = fd.enum_type.values_by_number.get(v)
        return ev.name if ev else str(v)
    if fd.type in (F.TYPE_STRING, F.TYPE_BYTES):
        return f'"{v}"'
    return str(v)


def flatten(a, b, prefix: str = "", skip: frozenset | set = frozenset()) -> list[tuple[str, str, str]]:
    """(dotted field, value in a, value in b) for every field of the two messages of one type
    whose effective value differs; a submessage is visited when either side sets it (unset on
    both means defaults on both)."""
    out = []
    for fd in a.DESCRIPTOR.fields:
        if fd.name in skip:
            continue
        path = prefix + fd.name
        va, vb = getattr(a, fd.name), getattr(b, fd.name)
        if fd.is_repeated:
            if fd.type == F.TYPE_MESSAGE:
                for i in range(max(len(va), len(vb))):
                    if i >= len(va) or i >= len(vb):
                        out.append((f"{path}[{i}]", "present" if i < len(va) else "", "present" if i < len(vb) else ""))
                    else:
                        out += flatten(va[i], vb[i], f"{path}[{i}].")
            elif list(va) != list(vb):
                out.append((path, "[" + ", ".join(_fmt(fd, x) for x in va) + "]",
                            "[" + ", ".join(_fmt(fd, x) for x in vb) + "]"))
        elif fd.type == F.TYPE_MESSAGE:
            if a.HasField(fd.name) or b.HasField(fd.name):
                out += flatten(va, vb, path + ".")
        elif va != vb:
            out.append((path, _fmt(fd, va), _fmt(fd, vb)))
    return out


def _hw(single, h, w, default: int, has_hw: bool) -> tuple[int, int]:
    if has_hw:
        return h, w
    if isinstance(single, int):
        return single, single
    vals = list(single)
    if not vals:
        return default, default
    return vals[0], vals[1] if len(vals) > 1 else vals[0]


def _geometry(lp) -> dict[str, str]:
    """Effective kernel / pad / stride / dilation of a Convolution or Pooling layer (2-D)."""
    if lp.type in ("Convolution", "Deconvolution"):
        c = lp.convolution_param
        k = _hw(c.kernel_size, c.kernel_h, c.kernel_w, 0, c.HasField("kernel_h"))
        p = _hw(c.pad, c.pad_h, c.pad_w, 0, c.HasField("pad_h"))
        s = _hw(c.stride, c.stride_h, c.stride_w, 1, c.HasField("stride_h"))
        d = _hw(c.dilation, 0, 0, 1, False)
        return {"kernel": f"{k[0]}x{k[1]}", "pad": f"{p[0]}x{p[1]}", "stride": f"{s[0]}x{s[1]}",
                "dilation": f"{d[0]}x{d[1]}"}
    if lp.type == "Pooling":
        c = lp.pooling_param
        if c.global_pooling:
            return {"kernel": "global", "pad": "0x0", "stride": "1x1"}
        k = _hw(c.kernel_size, c.kernel_h, c.kernel_w, 0, c.HasField("kernel_h"))
        p = _hw(c.pad, c.pad_h, c.pad_w, 0, c.HasField("pad_h"))
        s = _hw(c.stride, c.stride_h, c.stride_w, 1, c.HasField("stride_h"))
        return {"kernel": f"{k[0]}x{k[1]}", "pad": f"{p[0]}x{p[1]}", "stride": f"{s[0]}x{s[1]}"}
    return {}


_GEOMETRY_FIELDS = {
    "convolution_param": {"kernel_size", "kernel_h", "kernel_w", "pad", "pad_h", "pad_w", "stride", "stride_h",
                          "stride_w", "dilation"},
    "pooling_param": {"kernel_size", "kernel_h", "kernel_w", "pad", "pad_h", "pad_w", "stride", "stride_h",
                      "stride_w", "global_pooling"},
}


def param_roles(lp) -> list[str]:
    """Names of the blobs a layer asks the solver to learn, in Caffe's blob order."""
    t = lp.type
    if t in _WEIGHT_BIAS:
        bias = (lp.inner_product_param.bias_term if t == "InnerProduct" else
                lp.embed_param.bias_term if t == "Embed" else lp.convolution_param.bias_term)
        return ["weight", "bias"] if bias else ["weight"]
    if t == "Scale":
        return (["gamma"] if len(lp.bottom) == 1 else []) + (["beta"] if lp.scale_param.bias_term else [])
    if t == "Bias":
        return ["bias"] if len(lp.bottom) == 1 else []
    if t == "PReLU":
        return ["slope"]
    if t == "BatchNorm":
        return []            # three statistics blobs, never learnt (see _bn_spec_problem)
    return [f"blob {i}" for i in range(len(lp.param))]


def effective_specs(lp) -> dict[str, tuple[float, float]]:
    """role -> (lr_mult, decay_mult): a blob beyond the given param specs gets Caffe's default 1 / 1."""
    pb2 = caffe_pb2()
    out = {}
    for i, role in enumerate(param_roles(lp)):
        ps = lp.param[i] if i < len(lp.param) else pb2.ParamSpec()
        out[role] = (ps.lr_mult, ps.decay_mult)
    return out


def _bn_spec_problem(lp) -> str:
    bad = [i for i, ps in enumerate(lp.param) if ps.lr_mult != 0]
    return f"param {bad[0]} has lr_mult {lp.param[bad[0]].lr_mult:g}: Caffe refuses to learn BN statistics" if bad else ""


def layer_values(lp, phase: str) -> tuple[object, dict[str, str]]:
    """(the layer with the normalised-away fields cleared, derived effective values)."""
    pb2 = caffe_pb2()
    x = pb2.LayerParameter()
    x.CopyFrom(lp)
    for f in _LAYER_SKIP:
        x.ClearField(f)
    for f in _SOURCES:
        if x.HasField(f):
            getattr(x, f).ClearField("source")
    derived = {f"geometry.{k}": v for k, v in _geometry(lp).items()}
    for sub, names in _GEOMETRY_FIELDS.items():
        if x.HasField(sub):
            for n in names:
                getattr(x, sub).ClearField(n)
    if lp.type == "BatchNorm":
        bn = lp.batch_norm_param
        ugs = bn.use_global_stats if bn.HasField("use_global_stats") else phase == "TEST"
        derived["batch_norm_param.use_global_stats (effective)"] = "true" if ugs else "false"
        x.batch_norm_param.ClearField("use_global_stats")
        problem = _bn_spec_problem(lp)
        if problem:
            derived["param"] = problem
    for role, (lr, dm) in effective_specs(lp).items():
        derived[f"param {role} lr_mult/decay_mult"] = f"{lr:g} / {dm:g}"
    derived["tops"] = str(len(lp.top))
    return x, derived


def _producers(net) -> list[list[tuple[int, int] | str]]:
    """Per layer, each bottom as (index of the layer that last wrote it, top index), or the blob
    name when no layer wrote it (a net input)."""
    last: dict[str, tuple[int, int]] = {}
    out = []
    for i, lp in enumerate(net.layer):
        out.append([last.get(b, b) for b in lp.bottom])
        for j, t in enumerate(lp.top):
            last[t] = (i, j)
    return out


def _in_place(net) -> int:
    return sum(1 for lp in net.layer if set(lp.top) & set(lp.bottom))


def _align(theirs, ours) -> tuple[list[tuple[int | None, int | None]], dict[int, int], int]:
    """Layer pairs (index in theirs, index in ours) in net order, aligned on the layer types;
    layers left over of one type are then paired in order wherever they stand (a moved layer:
    its bottoms are still compared by producer); a layer without a partner gets None. Also
    returns the pairing and the number of moved pairs."""
    ta, tb = [lp.type for lp in theirs.layer], [lp.type for lp in ours.layer]
    pairs: list[tuple[int | None, int | None]] = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if op == "equal" or (op == "replace" and a1 - a0 == b1 - b0):
            pairs += list(zip(range(a0, a1), range(b0, b1)))
        else:
            pairs += [(i, None) for i in range(a0, a1)] + [(None, j) for j in range(b0, b1)]
    left_b = [j for i, j in pairs if i is None]
    moved = 0
    for k, (i, j) in enumerate(pairs):
        if j is None:
            partner = next((jb for jb in left_b if tb[jb] == ta[i]), None)
            if partner is not None:
                left_b.remove(partner)
                pairs[k] = (i, partner)
                moved += 1
    pairs = [(i, j) for i, j in pairs if i is not None or j in left_b]
    return pairs, {a: b for a, b in pairs if a is not None and b is not None}, moved


def _decay_summary(net, weight_decay: float) -> str:
    counts: dict[str, int] = {}
    for lp in net.layer:
        for role, (lr, dm) in effective_specs(lp).items():
            if lr > 0 and dm > 0 and weight_decay > 0:
                key = f"{lp.type} {role}"
                counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} ×{n}" for k, n in counts.items()) or "none"


def _bottom_name(net, p) -> str:
    if isinstance(p, str):
        return f"input {p}"
    return f"{net.layer[p[0]].name}" + (f" top {p[1]}" if p[1] else "")


# -- the comparison -----------------------------------------------------------------------------

def solver_type(sp) -> str:
    """The solver's effective type (``type``, else the deprecated ``solver_type`` enum, else SGD)."""
    if sp.HasField("type"):
        return sp.type
    if sp.HasField("solver_type"):
        return _SOLVER_TYPES.get(sp.SolverType.Name(sp.solver_type), str(sp.solver_type))
    return "SGD"


def compare_solvers(theirs, ours) -> list[Diff]:
    out = []
    if solver_type(theirs) != solver_type(ours):
        out.append(Diff("solver", "", "", "type", f'"{solver_type(theirs)}"', f'"{solver_type(ours)}"'))
    for path, a, b in flatten(theirs, ours, skip=_SOLVER_SKIP):
        out.append(Diff("solver", "", "", path, a, b, BOOKKEEPING.get(path.split(".")[0].split("[")[0], "")))
    return out


def compare_nets(theirs, ours, phase: str) -> tuple[list[Diff], dict]:
    """Differences of two phase-filtered nets, and facts for the normalisation notes."""
    pairs, amap, moved = _align(theirs, ours)
    pt, po = _producers(theirs), _producers(ours)
    out: list[Diff] = []
    facts = {"renamed": [], "sources": [], "bn_specs": set(), "moved": moved}
    for a, b in pairs:
        la = theirs.layer[a] if a is not None else None
        lb = ours.layer[b] if b is not None else None
        label = f"{la.name if la else '—'} / {lb.name if lb else '—'}"
        if la is None or lb is None:
            lp = la or lb
            out.append(Diff(phase, label, lp.type, "layer", "present" if la else "", "present" if lb else "",
                            "no matching layer on the other side"))
            continue
        if la.name != lb.name:
            facts["renamed"].append(f"{la.name} / {lb.name}")
        if la.type != lb.type:
            out.append(Diff(phase, label, f"{la.type} / {lb.type}", "type", la.type, lb.type))
            continue
        for f in _SOURCES:
            if la.HasField(f) or lb.HasField(f):
                sa, sb = getattr(la, f).source, getattr(lb, f).source
                if sa != sb:
                    facts["sources"].append(f"{phase} {f}.source: log `{sa}`, ours `{sb}`")
        if la.type == "BatchNorm":
            facts["bn_specs"].add((len(la.param), len(lb.param)))
        bt = [p if isinstance(p, str) else (amap.get(p[0], ("unmatched", p[0])), p[1]) for p in pt[a]]
        if bt != po[b]:
            out.append(Diff(phase, label, la.type, "bottom",
                            ", ".join(_bottom_name(theirs, p) for p in pt[a]),
                            ", ".join(_bottom_name(ours, p) for p in po[b]), "fed by different layers"))
        xa, da = layer_values(la, phase)
        xb, db = layer_values(lb, phase)
        for path, va, vb in flatten(xa, xb):
            out.append(Diff(phase, label, la.type, path, va, vb))
        for k in sorted(set(da) | set(db), key=lambda k: (k.startswith("param"), k)):
            if da.get(k) != db.get(k):
                out.append(Diff(phase, label, la.type, k, da.get(k, ""), db.get(k, "")))
    return out, facts


def compare(their_solver, their_nets: dict, our_solver, our_net, sources: dict | None = None) -> Comparison:
    """Compare what a log printed (:func:`printed_params`) with our solver and our train/test net
    (unfiltered ``NetParameter``; filtered here per phase as Caffe does)."""
    res = Comparison(sources=dict(sources or {}))
    res.diffs += compare_solvers(their_solver, our_solver)
    n_solver = sum(1 for f in their_solver.DESCRIPTOR.fields if f.name not in _SOLVER_SKIP) + 1
    res.compared.append(f"solver ({n_solver} fields)")
    renamed, srcs, bn = [], [], set()
    inplace = []
    for phase in ("TRAIN", "TEST"):
        ours = filter_net(our_net, phase)
        theirs = their_nets.get(phase)
        if theirs is None:
            res.compared.append(f"{phase} net: not printed in the log, not compared")
            continue
        diffs, facts = compare_nets(theirs, ours, phase)
        res.diffs += diffs
        renamed += facts["renamed"]
        srcs += facts["sources"]
        bn |= facts["bn_specs"]
        inplace.append(f"{phase}: {_in_place(theirs)} of {len(theirs.layer)} layers in place in the log, "
                       f"{_in_place(ours)} of {len(ours.layer)} in ours"
                       + (f", {facts['moved']} layer(s) at another position" if facts["moved"] else ""))
        res.compared.append(f"{phase} net ({len(theirs.layer)} layers in the log, {len(ours.layer)} in ours)")
        res.decay[phase] = (_decay_summary(theirs, their_solver.weight_decay),
                            _decay_summary(ours, our_solver.weight_decay))
    if uses_stage_rules(our_net):
        res.diffs.append(Diff("solver", "", "", "train_state / test_state", "", "stage or level rules",
                              "our net has stage/level rules; only the phase filter was applied"))
    res.normalised.append(f"layer names: {len(renamed)} matched pairs differ"
                          + (f" ({', '.join(dict.fromkeys(renamed))})" if renamed else ""))
    res.normalised.append("blob names, in place, layer order (bottoms compared by the layer that produced them): "
                          + "; ".join(inplace))
    if bn:
        res.normalised.append("BatchNorm param specs (the statistics blobs are never learnt either way): "
                              + "; ".join(f"{a} spec(s) in the log, {b} in ours" for a, b in sorted(bn)))
    res.normalised += [f"data source: {s}" for s in dict.fromkeys(srcs)]
    paths = [f"{f}: log `{getattr(their_solver, f)}`, ours `{getattr(our_solver, f)}`"
             for f in ("net", "train_net", "snapshot_prefix") if getattr(their_solver, f) != getattr(our_solver, f)]
    res.normalised += [f"solver path {p}" for p in paths]
    if their_solver.train_state != our_solver.train_state or their_solver.test_state != our_solver.test_state:
        res.normalised.append("solver train_state/test_state (the printed nets are already filtered by them)")
    return res


def require_printed(solver_text: str, net_texts: list[str], where: str) -> None:
    """Refuse a log without the blocks this comparison needs, in one line."""
    if not solver_text:
        raise UserError(f"{where}: no 'Initializing solver from parameters:' block (not a `caffe train` log, "
                        f"or written with GLOG_minloglevel > 0)")
    if not net_texts:
        raise UserError(f"{where}: no 'Initializing net from parameters:' block after the solver block "
                        f"(cut short, or written with GLOG_minloglevel > 0)")
