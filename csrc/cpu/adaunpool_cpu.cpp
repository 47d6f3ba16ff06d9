// adaUnPool forward and backward on the CPU. Every output is a gather (each position collects the
// windows that cover it; each window collects its items), so threads never write the same place.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "cpu/cpu_lanes.h"
#include "ops_common.h"

namespace adaunpool {
namespace cpu {
namespace {

// scale(z) of every plane position (K / count or 1): the same for every plane, computed once.
template <class acc_t>
std::vector<acc_t> scale_map(const Geometry& g, int64_t mode) {
  std::vector<acc_t> scale(g.S());
  at::parallel_for(0, g.S(), 4096, [&](int64_t z0, int64_t z1) {
    for (int64_t z = z0; z < z1; ++z) scale[z] = unpool_scale<acc_t>(g, z, mode);
  });
  return scale;
}

// One thread per (n, c) plane scatters its windows into a plane-sized accumulator: no two threads
// touch the same output, overlapping windows add up, and there is no per-position cover search.
template <class scalar_t>
at::Tensor forward_impl(const at::Tensor& y_in, const at::Tensor& w_in, at::IntArrayRef kernel, at::IntArrayRef stride,
                        int64_t mode, at::IntArrayRef size) {
  using acc_t = at::opmath_type<scalar_t>;
  const Geometry g = unpool_geometry(y_in, w_in, kernel, stride, size);
  const at::Tensor y_t = y_in.contiguous(), w_t = w_in.contiguous();
  at::Tensor u = at::empty({g.N, g.C, g.D, g.H, g.W}, y_t.options());
  if (u.numel() == 0) return u;
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C, Cw = w_t.size(1);
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const scalar_t* w = w_t.const_data_ptr<scalar_t>();
  scalar_t* up = u.mutable_data_ptr<scalar_t>();
  const std::vector<acc_t> scale = scale_map<acc_t>(g, mode);
  const std::vector<int64_t> off = item_offsets(g);
  at::parallel_for(0, g.N * C, 1, [&](int64_t nc0, int64_t nc1) {
    std::vector<acc_t> acc(S);
    for (int64_t nc = nc0; nc < nc1; ++nc) {
      const int64_t n = nc / C, c = nc % C;
      const scalar_t* wplane = w + (n * Cw + (Cw == 1 ? 0 : c)) * P * K;
      const scalar_t* yrow = y + nc * P;
      std::fill(acc.begin(), acc.end(), acc_t(0));
      for (int64_t p = 0; p < P; ++p) {
        const acc_t yv = static_cast<acc_t>(yrow[p]);
        const scalar_t* wwin = wplane + p * K;
        acc_t* a = acc.data() + g.origin(p);
        for (int64_t i = 0; i < K; ++i) a[off[i]] += static_cast<acc_t>(wwin[i]) * yv;
      }
      scalar_t* uplane = up + nc * S;
      for (int64_t z = 0; z < S; ++z) uplane[z] = static_cast<scalar_t>(acc[z] * scale[z]);
    }
  });
  return u;
}

template <class scalar_t>
std::tuple<at::Tensor, at::Tensor> backward_impl(const at::Tensor& gu_in, const at::Tensor& y_in,
                                                 const at::Tensor& w_in, at::IntArrayRef kernel,
                                                 at::IntArrayRef stride, int64_t mode, at::IntArrayRef size) {
  using acc_t = at::opmath_type<scalar_t>;
  const Geometry g = unpool_geometry(y_in, w_in, kernel, stride, size);
  TORCH_CHECK(gu_in.sizes() == at::IntArrayRef({g.N, g.C, g.D, g.H, g.W}), "adaunpool: grad_u has shape ",
              gu_in.sizes());
  const at::Tensor y_t = y_in.contiguous(), w_t = w_in.contiguous();
  const at::Tensor gu_t = gu_in.to(y_t.scalar_type()).contiguous();
  at::Tensor gy = at::empty_like(y_t);
  at::Tensor gw = at::empty_like(w_t);
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C, Cw = w_t.size(1);
  if (gy.numel() == 0 || g.N == 0) return {gy.zero_(), gw.zero_()};
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const scalar_t* w = w_t.const_data_ptr<scalar_t>();
  const scalar_t* gu = gu_t.const_data_ptr<scalar_t>();
  scalar_t* gyp = gy.mutable_data_ptr<scalar_t>();
  scalar_t* gwp = gw.mutable_data_ptr<scalar_t>();
  const std::vector<acc_t> scale = scale_map<acc_t>(g, mode);
  const std::vector<int64_t> off = item_offsets(g);

  // dL/dy_p = sum_i scale(z_i) W_pi dL/du_{z_i}
  at::parallel_for(0, g.N * C * P, 1024, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t nc = j / P, p = j % P, n = nc / C, c = nc % C;
      const scalar_t* wwin = w + ((n * Cw + (Cw == 1 ? 0 : c)) * P + p) * K;
      const int64_t o = g.origin(p);
      const scalar_t* gwin = gu + nc * S + o;
      const acc_t* swin = scale.data() + o;
      acc_t acc = 0;
      for (int64_t i = 0; i < K; ++i)
        acc += swin[off[i]] * static_cast<acc_t>(wwin[i]) * static_cast<acc_t>(gwin[off[i]]);
      gyp[j] = static_cast<scalar_t>(acc);
    }
  });
  // dL/dW_pi = scale(z_i) sum_c y_cp dL/du_{c, z_i}   (the sum only when w is shared by all channels)
  at::parallel_for(0, g.N * Cw * P, 1024, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t ncw = j / P, p = j % P, n = ncw / Cw, cw = ncw % Cw;
      const int64_t c0 = Cw == 1 ? 0 : cw, c1 = Cw == 1 ? C : cw + 1;
      const int64_t o = g.origin(p);
      scalar_t* gwin = gwp + j * K;
      for (int64_t i = 0; i < K; ++i) {
        acc_t acc = 0;
        for (int64_t c = c0; c < c1; ++c)
          acc += static_cast<acc_t>(y[(n * C + c) * P + p]) * static_cast<acc_t>(gu[(n * C + c) * S + o + off[i]]);
        gwin[i] = static_cast<scalar_t>(acc * scale[o + off[i]]);
      }
    }
  });
  return {gy, gw};
}

at::Tensor adaunpool_forward_cpu(const at::Tensor& y, const at::Tensor& w, at::IntArrayRef kernel,
                                 at::IntArrayRef stride, int64_t mode, at::IntArrayRef size) {
  TORCH_CHECK(mode == kUnpoolMean || mode == kUnpoolSum, "adaunpool: mode must be 0 (mean) or 1 (sum)");
  at::Tensor out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "adaunpool_forward_cpu", [&] {
    out = forward_impl<scalar_t>(y, w, kernel, stride, mode, size);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> adaunpool_backward_cpu(const at::Tensor& grad_u, const at::Tensor& y,
                                                          const at::Tensor& w, at::IntArrayRef kernel,
                                                          at::IntArrayRef stride, int64_t mode, at::IntArrayRef size) {
  TORCH_CHECK(mode == kUnpoolMean || mode == kUnpoolSum, "adaunpool: mode must be 0 (mean) or 1 (sum)");
  std::tuple<at::Tensor, at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "adaunpool_backward_cpu", [&] {
    out = backward_impl<scalar_t>(grad_u, y, w, kernel, stride, mode, size);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(adaunpool, CPU, m) {
  m.impl("adaunpool_forward", &adaunpool_forward_cpu);
  m.impl("adaunpool_backward", &adaunpool_backward_cpu);
}

}  // namespace cpu
}  // namespace adaunpool
