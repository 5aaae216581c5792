"""SimpleNet (arXiv 1608.06037) reproduction toolkit for real BVLC Caffe.

Layers (each may import only the ones listed before it; tests/test_layout.py checks this):

* top level -- what every layer shares: ``caffe_env`` (finding Caffe), ``paths``, ``errors``
  (:class:`~simplenet_caffe.errors.UserError`), ``atomic`` (the one atomic file/folder
  writer), ``protoio`` (the one protobuf I/O), ``progress`` (the one progress bar), ``cli``;
* ``data`` -- dataset readers, LMDB I/O, statistics, preprocessing, recipes, layouts, downloads;
* ``nets`` -- the variant table, the net/solver builders, the generator, counting, drawing, timing nets;
* ``runs`` -- training, log parsing, plots, results, evaluation, classification, pipeline;
* ``export`` -- the PyTorch twin, caffemodel <-> state_dict, ONNX, verification against Caffe
  (torch/onnx/onnxruntime/safetensors are the optional ``[export]`` extra, imported lazily);
* ``gpu`` -- the portable GPU bundle and its check (the check itself: standard library only);
* ``commands`` -- the ``simplenet-*`` console commands (tools/ and data_prep/ call them).

README.md has the module map.
"""
__version__ = "0.1.0"
