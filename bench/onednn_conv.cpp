// Which oneDNN for setup's DNN=onednn (docs/speed.md): times the library's direct convolution
// (forward, backward-data, backward-weights; the blocked layouts it picks, reorders not timed)
// and prints ms and GFLOP/s per direction, best of --reps runs after a warm-up run.
// By default three A5M-like shapes at batch 100; `--shapes FILE` times a net's convolutions
// instead, one per line as bench/conv_shapes.py prints them ("name N C H W O KH KW SH SW PH PW
// G BD"), and sums each direction over the net (backward-data only where BD is 1, as Caffe).
// `--nhwc` fixes the activations to NHWC (PyTorch's channels_last), where oneDNN has other kernels.
// Compiles against the v3 API (PyPI onednn-cpu-gomp 3.2, the cache folder setup unpacks; PyPI
// onednn 2026.1 = 3.13, the SYCL build, see docs/speed.md) and the v2 API (Debian's libdnnl-dev 2.6.3):
//   O=~/.cache/simplenet-caffe/onednn-*; g++ -O2 bench/onednn_conv.cpp -I$O/include -L$O/lib -ldnnl -Wl,-rpath,$O/lib -o /tmp/conv32
//   apt-get install libdnnl-dev; g++ -O2 bench/onednn_conv.cpp -ldnnl -o /tmp/conv26
//   R=<the 3.13 root docs/speed.md describes>; g++ -O2 bench/onednn_conv.cpp -I$R/include -L$R/lib -ldnnl
//     -Wl,--disable-new-dtags -Wl,-rpath,$R/lib -o /tmp/conv313   # run with OCL_ICD_FILENAMES=$R/lib/libintelocl.so
// then run the builds alternately (OMP_WAIT_POLICY=PASSIVE, all cores).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "oneapi/dnnl/dnnl.hpp"
using namespace dnnl;
typedef memory::format_tag tag;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
static double cpu_now() { timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
// Best wall-clock ms of `reps` runs after a warm-up; *cpu_ms gets the best process CPU time (all
// threads) of a run, which a busy machine inflates less than wall time (spinning threads count).
template <class P> double best(P& p, stream& s, std::unordered_map<int, memory> args, int reps, double* cpu_ms) {
  double b = 1e9, bc = 1e9;
  for (int i = 0; i < reps + 1; ++i) {
    double t = now(), c = cpu_now();
    p.execute(s, args); s.wait();
    t = now() - t; c = cpu_now() - c;
    if (i) { b = std::min(b, t); bc = std::min(bc, c); }
  }
  *cpu_ms += bc * 1e3;
  return b * 1e3;
}
struct Shape { std::string name; int n, c, h, w, o, kh, kw, sh, sw, ph, pw, g, bd; };

static std::vector<Shape> read_shapes(const char* path) {
  std::ifstream in(path);
  if (!in) { fprintf(stderr, "onednn_conv: cannot read %s\n", path); exit(2); }
  std::vector<Shape> v;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    Shape s;
    if (!(ls >> s.name >> s.n >> s.c >> s.h >> s.w >> s.o >> s.kh >> s.kw >> s.sh >> s.sw >> s.ph >> s.pw >> s.g >> s.bd)
        || s.g != 1 || s.n < 1 || s.c < 1 || s.o < 1) {
      fprintf(stderr, "onednn_conv: %s: bad line (want name N C H W O KH KW SH SW PH PW G BD, G = 1): %s\n", path, line.c_str());
      exit(2);
    }
    v.push_back(s);
  }
  if (v.empty()) { fprintf(stderr, "onednn_conv: %s: no shapes\n", path); exit(2); }
  return v;
}

int main(int argc, char** argv) {
  std::vector<Shape> shapes = {{"a", 100, 128, 32, 32, 128, 3, 3, 1, 1, 1, 1, 1, 1}, {"b", 100, 256, 8, 8, 256, 3, 3, 1, 1, 1, 1, 1, 1},
                               {"c", 100, 512, 4, 4, 2048, 1, 1, 1, 1, 0, 0, 1, 1}};
  int reps = 3;
  tag act = tag::any;  // activations: oneDNN's choice (nChw16c here), or NHWC with --nhwc
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--shapes") && i + 1 < argc) { shapes = read_shapes(argv[++i]); }
    else if (!strcmp(argv[i], "--nhwc")) act = tag::nhwc;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc && atoi(argv[i + 1]) > 0) reps = atoi(argv[++i]);
    else {
      bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
      fprintf(help ? stdout : stderr, "usage: %s [--shapes FILE] [--reps N] [--nhwc]\n  times oneDNN's direct convolution per shape and direction (see the source's head);\n  --nhwc: activations in NHWC (channels last) instead of the layout oneDNN picks\n", argv[0]);
      return help ? 0 : 2;
    }
  }
  engine eng(engine::kind::cpu, 0); stream s(eng);
  printf("oneDNN %d.%d.%d\n", dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch);
  double tot = 0, totflop = 0, dir[3] = {0, 0, 0}, cpu[3] = {0, 0, 0};
  for (auto& sh : shapes) {
    int oh = (sh.h + 2 * sh.ph - sh.kh) / sh.sh + 1, ow = (sh.w + 2 * sh.pw - sh.kw) / sh.sw + 1;
    memory::dims src = {sh.n, sh.c, sh.h, sh.w}, wei = {sh.o, sh.c, sh.kh, sh.kw}, dst = {sh.n, sh.o, oh, ow}, bias = {sh.o};
    auto f32 = memory::data_type::f32;
    memory::desc sa(src, f32, act), wa(wei, f32, tag::any), da(dst, f32, act), ba(bias, f32, tag::x);
    memory::dims st = {sh.sh, sh.sw}, pad = {sh.ph, sh.pw};
    auto alg = algorithm::convolution_direct;
#if DNNL_VERSION_MAJOR >= 3
    convolution_forward::primitive_desc fpd(eng, prop_kind::forward_training, alg, sa, wa, ba, da, st, pad, pad);
    convolution_backward_data::primitive_desc bdpd(eng, alg, sa, wa, da, st, pad, pad, fpd);
    convolution_backward_weights::primitive_desc bwpd(eng, alg, sa, wa, ba, da, st, pad, pad, fpd);
#else
    convolution_forward::primitive_desc fpd({prop_kind::forward_training, alg, sa, wa, ba, da, st, pad, pad}, eng);
    convolution_backward_data::primitive_desc bdpd({alg, sa, wa, da, st, pad, pad}, eng, fpd);
    convolution_backward_weights::primitive_desc bwpd({alg, sa, wa, ba, da, st, pad, pad}, eng, fpd);
#endif
    auto mk = [&](const memory::desc& md) { memory m(md, eng); float* d = (float*)m.get_data_handle(); for (size_t i = 0; i < md.get_size() / 4; ++i) d[i] = (i % 7) * 0.1f; return m; };
    convolution_forward f(fpd); convolution_backward_data bd(bdpd); convolution_backward_weights bw(bwpd);
    double tf = best(f, s, {{DNNL_ARG_SRC, mk(fpd.src_desc())}, {DNNL_ARG_WEIGHTS, mk(fpd.weights_desc())}, {DNNL_ARG_BIAS, mk(ba)}, {DNNL_ARG_DST, mk(fpd.dst_desc())}}, reps, &cpu[0]);
    double tb = sh.bd ? best(bd, s, {{DNNL_ARG_DIFF_DST, mk(bdpd.diff_dst_desc())}, {DNNL_ARG_WEIGHTS, mk(bdpd.weights_desc())}, {DNNL_ARG_DIFF_SRC, mk(bdpd.diff_src_desc())}}, reps, &cpu[1]) : 0;
    double tw = best(bw, s, {{DNNL_ARG_SRC, mk(bwpd.src_desc())}, {DNNL_ARG_DIFF_DST, mk(bwpd.diff_dst_desc())}, {DNNL_ARG_DIFF_WEIGHTS, mk(bwpd.diff_weights_desc())}, {DNNL_ARG_DIFF_BIAS, mk(ba)}}, reps, &cpu[2]);
    double flop = 2.0 * sh.n * sh.o * sh.c * sh.kh * sh.kw * oh * ow;
    printf("%s %dx%dx%dx%d -> %d k%dx%d s%d: fwd %.2f ms (%.0f GFLOP/s) bwd-data %.2f (%.0f) bwd-weights %.2f (%.0f) [%s | %s | %s]\n", sh.name.c_str(),
           sh.n, sh.c, sh.h, sh.w, sh.o, sh.kh, sh.kw, sh.sh, tf, flop / tf / 1e6, tb, tb > 0 ? flop / tb / 1e6 : 0., tw, flop / tw / 1e6,
           fpd.impl_info_str(), sh.bd ? bdpd.impl_info_str() : "-", bwpd.impl_info_str());
    tot += tf + tb + tw; totflop += (2 + (sh.bd ? 1 : 0)) * flop;
    dir[0] += tf; dir[1] += tb; dir[2] += tw;
  }
  printf("total %.1f ms (forward %.1f, backward-data %.1f, backward-weights %.1f), %.0f GFLOP/s\n", tot, dir[0], dir[1], dir[2], totflop / tot / 1e6);
  printf("cpu total %.1f ms (forward %.1f, backward-data %.1f, backward-weights %.1f)\n", cpu[0] + cpu[1] + cpu[2], cpu[0], cpu[1], cpu[2]);
}
