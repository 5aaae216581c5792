"""Data: dataset readers (idx, cifar, svhn, imagefolder), the one LMDB writer/reader (lmdbio),
mean/std statistics (stats), preprocessing (preprocess), per-dataset recipes and conversion
(recipes, convert, datasets), where each dataset's LMDBs live (layout), downloads (download).

May import only the top level of simplenet_caffe (caffe_env, paths, errors, atomic, protoio,
progress, cli) -- never nets, runs or commands.
"""
