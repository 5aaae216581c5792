// Which oneDNN for setup's DNN=onednn (docs/speed.md): times the library's direct convolution
// (forward, backward-data, backward-weights; the blocked layouts it picks, reorders not timed)
// on three A5M-like shapes at batch 100, best of 3, and prints ms and GFLOP/s per direction.
// Compiles against the v3 API (PyPI onednn-cpu-gomp 3.2, the cache folder setup unpacks) and
// the v2 API (Debian's libdnnl-dev 2.6.3):
//   O=~/.cache/simplenet-caffe/onednn-*; g++ -O2 bench/onednn_conv.cpp -I$O/include -L$O/lib -ldnnl -Wl,-rpath,$O/lib -o /tmp/conv32
//   apt-get install libdnnl-dev; g++ -O2 bench/onednn_conv.cpp -ldnnl -o /tmp/conv26
// then run both alternately (OMP_WAIT_POLICY=PASSIVE, all cores).
#include <chrono>
#include <cstdio>
#include <vector>
#include "oneapi/dnnl/dnnl.hpp"
using namespace dnnl;
typedef memory::format_tag tag;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <class P> double best(P& p, stream& s, std::unordered_map<int, memory> args, int reps) {
  double b = 1e9;
  for (int i = 0; i < reps + 1; ++i) { double t = now(); p.execute(s, args); s.wait(); t = now() - t; if (i) b = std::min(b, t); }
  return b * 1e3;
}
int main() {
  engine eng(engine::kind::cpu, 0); stream s(eng);
  struct Shape { int n, c, o, h, k; } shapes[] = {{100, 128, 128, 32, 3}, {100, 256, 256, 8, 3}, {100, 512, 2048, 4, 1}};
  double tot = 0, totflop = 0;
  for (auto& sh : shapes) {
    int p = sh.k / 2;
    memory::dims src = {sh.n, sh.c, sh.h, sh.h}, wei = {sh.o, sh.c, sh.k, sh.k}, dst = {sh.n, sh.o, sh.h, sh.h}, bias = {sh.o};
    auto f32 = memory::data_type::f32;
    memory::desc sa(src, f32, tag::any), wa(wei, f32, tag::any), da(dst, f32, tag::any), ba(bias, f32, tag::x);
    memory::dims st = {1, 1}, pad = {p, p};
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
    double tf = best(f, s, {{DNNL_ARG_SRC, mk(fpd.src_desc())}, {DNNL_ARG_WEIGHTS, mk(fpd.weights_desc())}, {DNNL_ARG_BIAS, mk(ba)}, {DNNL_ARG_DST, mk(fpd.dst_desc())}}, 3);
    double tb = best(bd, s, {{DNNL_ARG_DIFF_DST, mk(bdpd.diff_dst_desc())}, {DNNL_ARG_WEIGHTS, mk(bdpd.weights_desc())}, {DNNL_ARG_DIFF_SRC, mk(bdpd.diff_src_desc())}}, 3);
    double tw = best(bw, s, {{DNNL_ARG_SRC, mk(bwpd.src_desc())}, {DNNL_ARG_DIFF_DST, mk(bwpd.diff_dst_desc())}, {DNNL_ARG_DIFF_WEIGHTS, mk(bwpd.diff_weights_desc())}, {DNNL_ARG_DIFF_BIAS, mk(ba)}}, 3);
    double flop = 2.0 * sh.n * sh.o * sh.c * sh.k * sh.k * sh.h * sh.h;
    printf("%dx%dx%dx%d -> %d k%d: fwd %.1f ms (%.0f GFLOP/s) bwd-data %.1f (%.0f) bwd-weights %.1f (%.0f) [%s | %s | %s]\n", sh.n, sh.c, sh.h, sh.h, sh.o, sh.k,
           tf, flop / tf / 1e6, tb, flop / tb / 1e6, tw, flop / tw / 1e6, fpd.impl_info_str(), bdpd.impl_info_str(), bwpd.impl_info_str());
    tot += tf + tb + tw; totflop += 3 * flop;
  }
  printf("total %.1f ms, %.0f GFLOP/s\n", tot, totflop / tot / 1e6);
}
