// The adaunpool operator library: one schema for every backend. CPU kernels register in
// cpu/*.cpp, CUDA kernels in cuda/*.cu; fake kernels and autograd are registered from Python
// (adaunpool/_ops.py). All ops take canonical 5-D tensors (N, C, D, H, W) and 3-long kernel/stride.
#include <torch/library.h>

TORCH_LIBRARY(adaunpool, m) {
  // beta: broadcast (expanded) to y's shape, in the accumulation dtype (float32, float64 for float64
  // x). dsc: 0 = element, 1 = channel. w: (N, C, oD, oH, oW, K), or empty when not asked for.
  m.def("adapool_forward(Tensor x, int[] kernel, int[] stride, Tensor beta, int dsc, bool return_weights)"
        " -> (Tensor y, Tensor w)");
  // grad_w: the gradient of w when w was returned and used. grad_beta: y's full shape.
  m.def("adapool_backward(Tensor grad_y, Tensor? grad_w, Tensor x, int[] kernel, int[] stride, Tensor beta,"
        " int dsc) -> (Tensor grad_x, Tensor grad_beta)");
  // w: (N, C or 1, oD, oH, oW, K), y's dtype. mode: 0 = mean, 1 = sum. size: the output's (D, H, W).
  m.def("adaunpool_forward(Tensor y, Tensor w, int[] kernel, int[] stride, int mode, int[] size) -> Tensor");
  m.def("adaunpool_backward(Tensor grad_u, Tensor y, Tensor w, int[] kernel, int[] stride, int mode, int[] size)"
        " -> (Tensor grad_y, Tensor grad_w)");
  // How many threads an at::parallel_for of this library runs on now (cpu/parallel_probe.cpp).
  m.def("threads_used() -> int");
}
