// Host-side argument checks and geometry shared by the CPU and CUDA entry points. The Python layer
// checks user input with friendly messages; these checks guard direct torch.ops calls.
#pragma once

#include <ATen/ATen.h>

#include "window_math.h"

namespace adaunpool {

inline void check_window_args(at::IntArrayRef kernel, at::IntArrayRef stride) {
  TORCH_CHECK(kernel.size() == 3 && stride.size() == 3, "adaunpool: kernel and stride must have 3 entries");
  for (int d = 0; d < 3; ++d) {
    TORCH_CHECK(kernel[d] >= 1, "adaunpool: kernel_size must be >= 1, got ", kernel);
    TORCH_CHECK(stride[d] >= 1, "adaunpool: stride must be >= 1, got ", stride);
  }
}

// Windows of pooling x (N, C, D, H, W).
inline Geometry pool_geometry(const at::Tensor& x, at::IntArrayRef kernel, at::IntArrayRef stride) {
  TORCH_CHECK(x.dim() == 5, "adaunpool: x must be 5-D (N, C, D, H, W), got ", x.dim(), "-D");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "adaunpool: x must be floating point, got ", x.scalar_type());
  check_window_args(kernel, stride);
  for (int d = 0; d < 3; ++d)
    TORCH_CHECK(kernel[d] <= x.size(2 + d), "adaunpool: kernel_size ", kernel, " is larger than the input ", x.sizes());
  Geometry g;
  g.N = x.size(0); g.C = x.size(1); g.D = x.size(2); g.H = x.size(3); g.W = x.size(4);
  g.kD = kernel[0]; g.kH = kernel[1]; g.kW = kernel[2];
  g.sD = stride[0]; g.sH = stride[1]; g.sW = stride[2];
  g.oD = (g.D - g.kD) / g.sD + 1; g.oH = (g.H - g.kH) / g.sH + 1; g.oW = (g.W - g.kW) / g.sW + 1;
  return g;
}

inline std::vector<int64_t> pooled_shape(const Geometry& g) { return {g.N, g.C, g.oD, g.oH, g.oW}; }

// Windows of unpooling y (N, C, oD, oH, oW) with w (N, C|1, oD, oH, oW, K) into size (D, H, W).
inline Geometry unpool_geometry(const at::Tensor& y, const at::Tensor& w, at::IntArrayRef kernel,
                                at::IntArrayRef stride, at::IntArrayRef size) {
  TORCH_CHECK(y.dim() == 5, "adaunpool: y must be 5-D (N, C, oD, oH, oW), got ", y.dim(), "-D");
  TORCH_CHECK(size.size() == 3, "adaunpool: size must have 3 entries");
  check_window_args(kernel, stride);
  TORCH_CHECK(y.scalar_type() == w.scalar_type(), "adaunpool: y and w must have one dtype, got ", y.scalar_type(),
              " and ", w.scalar_type());
  TORCH_CHECK(at::isFloatingType(y.scalar_type()), "adaunpool: y must be floating point");
  Geometry g;
  g.N = y.size(0); g.C = y.size(1); g.D = size[0]; g.H = size[1]; g.W = size[2];
  g.kD = kernel[0]; g.kH = kernel[1]; g.kW = kernel[2];
  g.sD = stride[0]; g.sH = stride[1]; g.sW = stride[2];
  g.oD = y.size(2); g.oH = y.size(3); g.oW = y.size(4);
  for (int d = 0; d < 3; ++d) {
    const int64_t o = y.size(2 + d);
    TORCH_CHECK(size[d] >= kernel[d] && (size[d] - kernel[d]) / stride[d] + 1 == o,
                "adaunpool: size ", size, " does not pool back to y's ", y.sizes());
  }
  TORCH_CHECK(w.dim() == 6 && w.size(0) == g.N && (w.size(1) == g.C || w.size(1) == 1) && w.size(2) == g.oD &&
                  w.size(3) == g.oH && w.size(4) == g.oW && w.size(5) == g.K(),
              "adaunpool: w must be (N, C or 1, oD, oH, oW, K), got ", w.sizes());
  return g;
}

inline at::ScalarType acc_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// beta is read through its strides (it is usually an expanded view); stride 0 broadcasts.
template <class acc_t>
struct BetaView {
  const acc_t* ptr;
  int64_t sn, sc, sd, sh, sw;
  // beta of window p of plane (n, c); moving to the next window along W adds sw.
  AU_HD acc_t at(const Geometry& g, int64_t n, int64_t c, int64_t p) const { return ptr[offset(g, n, c, p)]; }
  AU_HD int64_t offset(const Geometry& g, int64_t n, int64_t c, int64_t p) const {
    const int64_t ow = p % g.oW, t = p / g.oW, oh = t % g.oH, od = t / g.oH;
    return n * sn + c * sc + od * sd + oh * sh + ow * sw;
  }
};

template <class acc_t>
inline BetaView<acc_t> beta_view(const at::Tensor& beta, const Geometry& g) {
  TORCH_CHECK(beta.dim() == 5, "adaunpool: beta must be 5-D, broadcast to y's shape");
  TORCH_CHECK(beta.scalar_type() == c10::CppTypeToScalarType<acc_t>::value, "adaunpool: beta must be ",
              c10::CppTypeToScalarType<acc_t>::value, ", got ", beta.scalar_type());
  const std::vector<int64_t> want = pooled_shape(g);
  for (int d = 0; d < 5; ++d)
    TORCH_CHECK(beta.size(d) == want[d] || beta.size(d) == 1, "adaunpool: beta ", beta.sizes(),
                " does not broadcast to ", at::IntArrayRef(want));
  auto s = [&](int d) { return beta.size(d) == 1 ? int64_t(0) : beta.stride(d); };
  return {beta.const_data_ptr<acc_t>(), s(0), s(1), s(2), s(3), s(4)};
}

}  // namespace adaunpool
