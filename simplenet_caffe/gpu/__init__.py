"""GPU layer: the portable GPU bundle and the check that runs from it (docs/gpu.md).

``bundle`` builds the bundle here from a CUDA Caffe build (may import the top level, data, nets
and runs); ``check`` is copied into the bundle as ``gpu_check.py`` and runs on the GPU machine,
so it imports the standard library only.
"""
