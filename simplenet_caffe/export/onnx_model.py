"""The ONNX model of a plan, written node by node with ``onnx.helper`` (no torch needed).

Built straight from the plan and the numpy state_dict rather than traced from the PyTorch twin,
so the onnxruntime check is an independent third implementation, and ``--to onnx`` needs only
onnx.  Opset :data:`OPSET`; input ``data`` N x C x H x W float32 (N symbolic); outputs
``logits`` (the classifier's output) and ``prob`` (Softmax over classes, the deploy net's top).

Node per step (names = Caffe layer names): Convolution -> Conv; BatchNorm(+Scale) ->
BatchNormalization (gamma 1 / beta 0 without a Scale; the stored running stats, eps from the
prototxt); ReLU -> Relu or LeakyRelu; Dropout -> nothing (identity at inference, as Caffe's
TEST phase); Pooling -> MaxPool/AveragePool with the padding spelled out so that ONNX's floor
rounding gives Caffe's ceil-and-clip output size (global pooling -> GlobalMaxPool/
GlobalAveragePool); InnerProduct -> Flatten + Gemm (transB); Softmax -> Softmax(axis 1).
"""
from __future__ import annotations

import json

import numpy as np

from ..nets.counting import conv_out, pool_out
from . import need
from .plan import Plan

OPSET = 17
FORMAT = "simplenet-caffe-export/1"


def build(plan: Plan, sd: dict[str, np.ndarray], prep: dict, source: str) -> bytes:
    """Serialized ONNX model of ``plan`` with the weights of the twin state_dict ``sd``."""
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def init(name: str, arr) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        return name

    _, h, w = plan.input_shape
    x = plan.input_name
    logits = None
    for s in plan.steps:
        if s.kind == "conv":
            ins = [x, init(f"{s.name}.weight", sd[f"{s.name}.weight"])]
            if s.bias:
                ins.append(init(f"{s.name}.bias", sd[f"{s.name}.bias"]))
            nodes.append(helper.make_node("Conv", ins, [s.name], name=s.name, kernel_shape=list(s.kernel),
                                          strides=list(s.stride), pads=[*s.pad, *s.pad], dilations=list(s.dilation),
                                          group=s.group))
            h = conv_out(h, s.kernel[0], s.pad[0], s.stride[0], s.dilation[0])
            w = conv_out(w, s.kernel[1], s.pad[1], s.stride[1], s.dilation[1])
        elif s.kind == "bn":
            gamma = sd[f"{s.name}.weight"] if s.scale else np.ones(s.channels, np.float32)
            beta = sd[f"{s.name}.bias"] if s.scale else np.zeros(s.channels, np.float32)
            ins = [x, init(f"{s.name}.weight", gamma), init(f"{s.name}.bias", beta),
                   init(f"{s.name}.running_mean", sd[f"{s.name}.running_mean"]),
                   init(f"{s.name}.running_var", sd[f"{s.name}.running_var"])]
            nodes.append(helper.make_node("BatchNormalization", ins, [s.name], name=s.name, epsilon=s.eps))
        elif s.kind == "relu":
            op = helper.make_node("LeakyRelu", [x], [s.name], name=s.name, alpha=s.slope) if s.slope else \
                helper.make_node("Relu", [x], [s.name], name=s.name)
            nodes.append(op)
        elif s.kind == "drop":
            continue
        elif s.kind == "pool":
            kind = "Max" if s.method == "max" else "Average"
            if s.global_pool:
                nodes.append(helper.make_node(f"Global{kind}Pool", [x], [s.name], name=s.name))
                h = w = 1
            else:
                (kh, kw), (sh, sw), (ph, pw) = s.kernel, s.stride, s.pad
                oh, ow = pool_out(h, kh, ph, sh), pool_out(w, kw, pw, sw)
                if s.method == "max":   # end padding that makes floor rounding land on Caffe's size
                    pads = [ph, pw, (oh - 1) * sh + kh - h - ph, (ow - 1) * sw + kw - w - pw]
                    attrs = {"pads": [max(0, p) for p in pads]}
                else:                    # Caffe averages over the window clipped to H + pad
                    attrs = {"pads": [ph, pw, ph, pw], "ceil_mode": 1, "count_include_pad": 1}
                nodes.append(helper.make_node(f"{kind}Pool", [x], [s.name], name=s.name, kernel_shape=[kh, kw],
                                              strides=[sh, sw], **attrs))
                h, w = oh, ow
        elif s.kind == "ip":
            flat = f"{s.name}.flatten"
            nodes.append(helper.make_node("Flatten", [x], [flat], name=flat, axis=1))
            ins = [flat, init(f"{s.name}.weight", sd[f"{s.name}.weight"])]
            if s.bias:
                ins.append(init(f"{s.name}.bias", sd[f"{s.name}.bias"]))
            nodes.append(helper.make_node("Gemm", ins, [s.name], name=s.name, transB=1))
            logits = s.name
        elif s.kind == "softmax":
            continue
        else:
            raise ValueError(f"unknown step kind {s.kind}")
        x = s.name
    nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
    nodes.append(helper.make_node("Softmax", [logits], ["prob"], name="prob", axis=1))
    graph = helper.make_graph(
        nodes, plan.name or "simplenet",
        [helper.make_tensor_value_info(plan.input_name, TensorProto.FLOAT, ["N", *plan.input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", plan.num_classes]),
         helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", plan.num_classes])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="simplenet-caffe",
                              doc_string=f"SimpleNet {plan.name} exported from Caffe ({source})")
    model.ir_version = 8   # the IR version of opset 17; older runtimes read it
    props = {"simplenet.format": FORMAT, "simplenet.input": prep.get("summary", ""),
             "simplenet.channel_order": str(prep.get("channel_order", "")),
             "simplenet.preprocessing": json.dumps(prep), "simplenet.plan": plan.to_json(), "simplenet.source": source}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
