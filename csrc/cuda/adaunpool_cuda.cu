// adaUnPool forward and backward on CUDA. Every output element is a gather (a position collects the
// windows covering it; a window collects its items), so no atomics are needed.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "cuda/cuda_launch.cuh"
#include "ops_common.h"

namespace adaunpool {
namespace cuda {
namespace detail {

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) unpool_forward_kernel(Geometry g, int64_t Cw, int64_t mode, const scalar_t* __restrict__ y,
                                      const scalar_t* __restrict__ w, scalar_t* __restrict__ u) {
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C;
  AU_GRID_LOOP(j, g.N * C * S) {
    const int64_t nc = j / S, z = j % S, n = nc / C, c = nc % C;
    const scalar_t* wrow = w + (n * Cw + (Cw == 1 ? 0 : c)) * P * K;
    const scalar_t* yrow = y + nc * P;
    acc_t acc = 0;
    for_each_cover(g, z, [&](int64_t p, int64_t i) {
      acc += static_cast<acc_t>(wrow[p * K + i]) * static_cast<acc_t>(yrow[p]);
    });
    u[j] = static_cast<scalar_t>(acc * unpool_scale<acc_t>(g, z, mode));
  }
}

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) unpool_grad_y_kernel(Geometry g, int64_t Cw, int64_t mode, const scalar_t* __restrict__ w,
                                     const scalar_t* __restrict__ gu, scalar_t* __restrict__ gy) {
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C;
  AU_GRID_LOOP(j, g.N * C * P) {
    const int64_t nc = j / P, p = j % P, n = nc / C, c = nc % C, o = g.origin(p);
    const scalar_t* wwin = w + ((n * Cw + (Cw == 1 ? 0 : c)) * P + p) * K;
    acc_t acc = 0;
    for (int64_t i = 0; i < K; ++i) {
      const int64_t z = o + g.item(i);
      acc += unpool_scale<acc_t>(g, z, mode) * static_cast<acc_t>(wwin[i]) * static_cast<acc_t>(gu[nc * S + z]);
    }
    gy[j] = static_cast<scalar_t>(acc);
  }
}

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) unpool_grad_w_kernel(Geometry g, int64_t Cw, int64_t mode, const scalar_t* __restrict__ y,
                                     const scalar_t* __restrict__ gu, scalar_t* __restrict__ gw) {
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C;
  AU_GRID_LOOP(j, g.N * Cw * P * K) {
    const int64_t i = j % K, t = j / K, p = t % P, ncw = t / P, n = ncw / Cw, cw = ncw % Cw;
    const int64_t z = g.origin(p) + g.item(i);
    const int64_t c0 = Cw == 1 ? 0 : cw, c1 = Cw == 1 ? C : cw + 1;
    acc_t acc = 0;
    for (int64_t c = c0; c < c1; ++c)
      acc += static_cast<acc_t>(y[(n * C + c) * P + p]) * static_cast<acc_t>(gu[(n * C + c) * S + z]);
    gw[j] = static_cast<scalar_t>(acc * unpool_scale<acc_t>(g, z, mode));
  }
}

at::Tensor adaunpool_forward_cuda(const at::Tensor& y_in, const at::Tensor& w_in, at::IntArrayRef kernel,
                                  at::IntArrayRef stride, int64_t mode, at::IntArrayRef size) {
  TORCH_CHECK(mode == kUnpoolMean || mode == kUnpoolSum, "adaunpool: mode must be 0 (mean) or 1 (sum)");
  TORCH_CHECK(w_in.device() == y_in.device(), "adaunpool: w must be on y's device");
  const c10::cuda::CUDAGuard guard(y_in.device());
  const Geometry g = unpool_geometry(y_in, w_in, kernel, stride, size);
  const at::Tensor y_t = y_in.contiguous(), w_t = w_in.contiguous();
  at::Tensor u = at::empty({g.N, g.C, g.D, g.H, g.W}, y_t.options());
  if (u.numel() == 0) return u;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y_t.scalar_type(), "adaunpool_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    unpool_forward_kernel<scalar_t, acc_t><<<grid_for(u.numel()), kThreads, 0, stream()>>>(
        g, w_t.size(1), mode, y_t.const_data_ptr<scalar_t>(), w_t.const_data_ptr<scalar_t>(),
        u.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return u;
}

std::tuple<at::Tensor, at::Tensor> adaunpool_backward_cuda(const at::Tensor& gu_in, const at::Tensor& y_in,
                                                           const at::Tensor& w_in, at::IntArrayRef kernel,
                                                           at::IntArrayRef stride, int64_t mode, at::IntArrayRef size) {
  TORCH_CHECK(mode == kUnpoolMean || mode == kUnpoolSum, "adaunpool: mode must be 0 (mean) or 1 (sum)");
  const c10::cuda::CUDAGuard guard(y_in.device());
  const Geometry g = unpool_geometry(y_in, w_in, kernel, stride, size);
  TORCH_CHECK(gu_in.sizes() == at::IntArrayRef({g.N, g.C, g.D, g.H, g.W}), "adaunpool: grad_u has shape ",
              gu_in.sizes());
  const at::Tensor y_t = y_in.contiguous(), w_t = w_in.contiguous();
  const at::Tensor gu_t = gu_in.to(y_t.scalar_type()).contiguous();
  at::Tensor gy = at::empty_like(y_t);
  at::Tensor gw = at::empty_like(w_t);
  if (gy.numel() == 0) return {gy, gw.zero_()};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y_t.scalar_type(), "adaunpool_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    unpool_grad_y_kernel<scalar_t, acc_t><<<grid_for(gy.numel()), kThreads, 0, stream()>>>(
        g, w_t.size(1), mode, w_t.const_data_ptr<scalar_t>(), gu_t.const_data_ptr<scalar_t>(),
        gy.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    unpool_grad_w_kernel<scalar_t, acc_t><<<grid_for(gw.numel()), kThreads, 0, stream()>>>(
        g, w_t.size(1), mode, y_t.const_data_ptr<scalar_t>(), gu_t.const_data_ptr<scalar_t>(),
        gw.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {gy, gw};
}

}  // namespace detail

TORCH_LIBRARY_IMPL(adaunpool, CUDA, m) {
  m.impl("adaunpool_forward", &detail::adaunpool_forward_cuda);
  m.impl("adaunpool_backward", &detail::adaunpool_backward_cuda);
}

}  // namespace cuda
}  // namespace adaunpool
