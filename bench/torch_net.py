"""PyTorch twin of a Caffe training net, built by walking its NetParameter (for bench_caffe.py).

Supports the layers SimpleNet uses: Convolution, BatchNorm (+ the Scale that follows it, fused
into one affine ``BatchNorm2d``), ReLU, Pooling (MAX/AVE, Caffe's ceil rounding, global),
Dropout, InnerProduct, SoftmaxWithLoss. Layers are taken in file order as one chain (SimpleNet
is a plain chain, its BN/Scale/ReLU/Dropout in place). Input is NCHW float32; torch is imported
lazily by the caller, as it is an optional bench extra (``pip install torch==2.13.0``).
"""
from __future__ import annotations

from simplenet_caffe.nets.counting import conv_geometry


def build(torch, net, input_chw: tuple[int, int, int]):
    """(model, loss_fn) for a NetParameter ``net`` whose data layer gives ``input_chw`` images."""
    nn = torch.nn
    mods: list = []
    x = torch.zeros(1, *input_chw)
    layers = [l for l in net.layer if l.type not in ("Input", "Data", "Accuracy")]
    i = 0
    while i < len(layers):
        l = layers[i]
        t = l.type
        if t == "Convolution":
            p = l.convolution_param
            g = conv_geometry(p)
            m = nn.Conv2d(x.shape[1], p.num_output, (g.kh, g.kw), (g.sh, g.sw), (g.ph, g.pw), (g.dh, g.dw),
                          groups=p.group or 1, bias=p.bias_term)
        elif t == "BatchNorm":
            affine = i + 1 < len(layers) and layers[i + 1].type == "Scale"
            m = nn.BatchNorm2d(x.shape[1], eps=l.batch_norm_param.eps,
                               momentum=1 - l.batch_norm_param.moving_average_fraction, affine=affine)
            i += affine  # the Scale is folded into the affine BN
        elif t == "ReLU":
            m = nn.ReLU(inplace=True)
        elif t == "Dropout":
            m = nn.Dropout(l.dropout_param.dropout_ratio)
        elif t == "Pooling":
            p = l.pooling_param
            if p.global_pooling:
                m = nn.AdaptiveMaxPool2d(1) if p.pool == 0 else nn.AdaptiveAvgPool2d(1)
            else:
                k, s, pad = p.kernel_size, p.stride or 1, p.pad
                m = (nn.MaxPool2d(k, s, pad, ceil_mode=True) if p.pool == 0
                     else nn.AvgPool2d(k, s, pad, ceil_mode=True))
        elif t == "InnerProduct":
            m = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), l.inner_product_param.num_output))
        elif t in ("SoftmaxWithLoss", "Softmax"):
            break
        else:
            raise ValueError(f"layer {l.name}: type {t} not supported by the torch twin")
        mods.append(m)
        with torch.no_grad():
            x = m.eval()(x)
        i += 1
    model = nn.Sequential(*mods).train()
    return model, nn.CrossEntropyLoss()
