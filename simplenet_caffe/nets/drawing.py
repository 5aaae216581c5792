"""Draw a Caffe net as a graph (Graphviz through pydot), with shapes and parameter counts.

Like Caffe's ``python/draw_net.py`` (one node per layer, phase filter, rankdir), plus what it
lacks (docs/spec.md §A.5): every node shows the output shape and learnable params from
``counting.py``, and conv/pool nodes their kernel/stride/pad.  In-place layers (BN, Scale,
ReLU, Dropout) are drawn as their own nodes in execution order.  Output format follows the file
extension (png, svg, pdf, dot); the file is written to a temp name and renamed when complete.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..atomic import write_atomic
from ..errors import UserError
from ..protoio import read_net
from . import counting
from .counting import conv_geometry

COLORS = {"Convolution": "#ff8c69", "InnerProduct": "#ff8c69", "Pooling": "#7fbfff", "BatchNorm": "#c8e6c9",
          "Scale": "#c8e6c9", "ReLU": "#fff59d", "Dropout": "#e0e0e0", "Data": "#d1c4e9", "Input": "#d1c4e9",
          "SoftmaxWithLoss": "#f48fb1", "Softmax": "#f48fb1", "Accuracy": "#f8bbd0"}


def _detail(lp) -> str:
    t = lp.type
    if t == "Convolution":
        g = conv_geometry(lp.convolution_param)
        return f"{g.kh}x{g.kw} s{g.sh} p{g.ph} -> {lp.convolution_param.num_output}"
    if t == "Pooling":
        pp = lp.pooling_param
        kind = "MAX" if pp.pool == 0 else "AVE"
        return f"global {kind}" if pp.global_pooling else f"{kind} {pp.kernel_size}x{pp.kernel_size} s{pp.stride}"
    if t == "Dropout":
        return f"p={lp.dropout_param.dropout_ratio:g}"
    if t == "InnerProduct":
        return f"-> {lp.inner_product_param.num_output}"
    return ""


def net_graph(net_param, phase: str = "TRAIN", rankdir: str = "TB", input_shape=None):
    """A ``pydot.Dot`` of the net in ``phase``."""
    import pydot

    counts = counting.count_prototxt(net_param, phase=phase, input_shape=input_shape)
    rows = {r.name: r for r in counts.rows}
    g = pydot.Dot(graph_type="digraph", rankdir=rankdir, label=f"{net_param.name} ({phase})", fontsize="16")
    g.set_node_defaults(shape="box", style="filled,rounded", fontname="Helvetica", fontsize="10")
    producer: dict[str, str] = {}
    for i, lp in enumerate(net_param.layer):
        if not counting.in_phase(lp, phase):
            continue
        node_id = f"L{i}"
        r = rows.get(lp.name)
        lines = [lp.name, lp.type]
        det = _detail(lp)
        if det:
            lines.append(det)
        if r is not None and r.shape:
            lines.append("x".join(map(str, r.shape)))
        if r is not None and r.learnable:
            lines.append(f"params {r.learnable:,}")
        label = "\\n".join(s.replace('"', "'") for s in lines)
        g.add_node(pydot.Node(node_id, label=f'"{label}"', fillcolor=COLORS.get(lp.type, "#ffffff")))
        for b in lp.bottom:
            if b in producer:
                g.add_edge(pydot.Edge(producer[b], node_id))
        for t in lp.top:
            producer[t] = node_id
    return g


def draw(net_or_path, out: Path, phase: str = "TRAIN", rankdir: str = "TB", input_shape=None) -> Path:
    """Render ``net_or_path`` to ``out`` (format from the extension)."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf", "dot", "jpg", "gif"):
        raise UserError(f"{out}: unsupported picture format {fmt!r} (use .png, .svg, .pdf or .dot)")
    if fmt != "dot" and shutil.which("dot") is None:
        raise UserError("graphviz `dot` not found: install graphviz (apt-get install graphviz) or write .dot")
    net = read_net(net_or_path)
    g = net_graph(net, phase=phase, rankdir=rankdir, input_shape=input_shape)
    return write_atomic(out, g.to_string() if fmt == "dot" else g.create(format=fmt))
