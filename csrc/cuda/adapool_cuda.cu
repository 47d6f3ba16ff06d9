// adaPool forward and backward on CUDA: one thread per window (per window position across channels
// for the channel-mode Dice passes), float accumulation, the maths of window_math.h. Overlapping
// windows are folded by a gather kernel, never with atomics.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "cuda/cuda_launch.cuh"
#include "ops_common.h"

namespace adaunpool {
namespace cuda {
namespace detail {

template <class T, class scalar_t>
struct ItemReader {  // item i of the window whose first item is at `row`
  const scalar_t* row;
  const Geometry* g;
  __device__ T operator()(int64_t i) const { return static_cast<T>(row[g->item(i)]); }
};

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) window_means_kernel(Geometry g, const scalar_t* __restrict__ x, acc_t* __restrict__ mean) {
  using M = ScalarMath<acc_t>;
  const int64_t P = g.P(), S = g.S(), n_items = g.N * g.C * P;
  AU_GRID_LOOP(j, n_items) {
    const int64_t nc = j / P, p = j % P;
    const ItemReader<acc_t, scalar_t> xi{x + nc * S + g.origin(p), &g};
    mean[j] = window_mean<acc_t, M>(g.K(), xi);
  }
}

// chan: 4 planes of (N, K, P): wD, d, q, sgn.
template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) channel_dsc_kernel(Geometry g, const scalar_t* __restrict__ x, const acc_t* __restrict__ mean,
                                   acc_t* __restrict__ chan) {
  using M = ScalarMath<acc_t>;
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C, plane = g.N * K * P;
  AU_GRID_LOOP(j, g.N * P) {
    const int64_t n = j / P, p = j % P, o = g.origin(p), base = n * K * P + p;
    auto xc = [&](int64_t c, int64_t i) { return static_cast<acc_t>(x[(n * C + c) * S + o + g.item(i)]); };
    auto mc = [&](int64_t c) { return mean[(n * C + c) * P + p]; };
    auto out = [&](int64_t i, acc_t d, acc_t q, acc_t s) {
      chan[plane + base + i * P] = d;
      chan[2 * plane + base + i * P] = q;
      chan[3 * plane + base + i * P] = s;
    };
    const acc_t inv = dsc_channel_window<acc_t, M>(C, K, xc, mc, out);
    for (int64_t i = 0; i < K; ++i) chan[base + i * P] = M::exp(chan[plane + base + i * P]) * inv;
  }
}

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) forward_kernel(Geometry g, const scalar_t* __restrict__ x, BetaView<acc_t> beta,
                               const acc_t* __restrict__ wd_chan, scalar_t* __restrict__ y, scalar_t* __restrict__ w) {
  using M = ScalarMath<acc_t>;
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C;
  AU_GRID_LOOP(j, g.N * C * P) {
    const int64_t nc = j / P, p = j % P, n = nc / C, c = nc % C;
    const ItemReader<acc_t, scalar_t> xi{x + nc * S + g.origin(p), &g};
    const acc_t b = beta.at(g, n, c, p);
    scalar_t* wrow = w ? w + j * K : nullptr;
    auto wout = [&](int64_t i, acc_t v) { wrow[i] = static_cast<scalar_t>(v); };
    acc_t out;
    if (wd_chan) {
      auto wd = [&](int64_t i) { return wd_chan[(n * K + i) * P + p]; };
      out = adapool_window<acc_t, M>(K, xi, wd, b, wrow != nullptr, wout);
    } else {
      out = adapool_window_element<acc_t, M>(K, xi, b, wrow != nullptr, wout);
    }
    y[j] = static_cast<scalar_t>(out);
  }
}

// sum_j wD_j G_j per (n, c, p), channel mode.
template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) weighted_grad_kernel(Geometry g, const scalar_t* __restrict__ x, const scalar_t* __restrict__ gy,
                                     const scalar_t* __restrict__ gw, const acc_t* __restrict__ wd_chan,
                                     acc_t* __restrict__ ad) {
  using M = ScalarMath<acc_t>;
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C;
  AU_GRID_LOOP(j, g.N * C * P) {
    const int64_t nc = j / P, p = j % P, n = nc / C;
    const ItemReader<acc_t, scalar_t> xi{x + nc * S + g.origin(p), &g};
    auto wd = [&](int64_t i) { return wd_chan[(n * K + i) * P + p]; };
    auto gwi = [&](int64_t i) { return gw ? static_cast<acc_t>(gw[j * K + i]) : acc_t(0); };
    ad[j] = weighted_grad<acc_t, M>(K, xi, wd, static_cast<acc_t>(gy[j]), gwi);
  }
}

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) channel_rho_kernel(Geometry g, const scalar_t* __restrict__ x, BetaView<acc_t> beta,
                                   const scalar_t* __restrict__ gy, const scalar_t* __restrict__ gw,
                                   const acc_t* __restrict__ ad, const acc_t* __restrict__ chan,
                                   acc_t* __restrict__ rho, acc_t* __restrict__ kappa) {
  using M = ScalarMath<acc_t>;
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C, plane = g.N * K * P;
  AU_GRID_LOOP(j, g.N * P) {
    const int64_t n = j / P, p = j % P, o = g.origin(p), base = n * K * P + p;
    auto xc = [&](int64_t c, int64_t i) { return static_cast<acc_t>(x[(n * C + c) * S + o + g.item(i)]); };
    auto bc = [&](int64_t c) { return beta.at(g, n, c, p); };
    auto gyc = [&](int64_t c) { return static_cast<acc_t>(gy[(n * C + c) * P + p]); };
    auto gwc = [&](int64_t c, int64_t i) {
      return gw ? static_cast<acc_t>(gw[((n * C + c) * P + p) * K + i]) : acc_t(0);
    };
    auto adc = [&](int64_t c) { return ad[(n * C + c) * P + p]; };
    auto wd = [&](int64_t i) { return chan[base + i * P]; };
    auto d = [&](int64_t i) { return chan[plane + base + i * P]; };
    auto q = [&](int64_t i) { return chan[2 * plane + base + i * P]; };
    auto out = [&](int64_t i, acc_t v) { rho[base + i * P] = v; };
    kappa[j] = dsc_channel_rho<acc_t, M>(C, K, xc, bc, gyc, gwc, adc, wd, d, q, out);
  }
}

// Item gradients of every window: into gx directly when windows are disjoint, else into
// items (N, C, K, P) for the fold.
template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) backward_kernel(Geometry g, const scalar_t* __restrict__ x, BetaView<acc_t> beta,
                                const scalar_t* __restrict__ gy, const scalar_t* __restrict__ gw,
                                const acc_t* __restrict__ mean, const acc_t* __restrict__ chan,
                                const acc_t* __restrict__ rho, const acc_t* __restrict__ kappa,
                                scalar_t* __restrict__ gx, acc_t* __restrict__ items, acc_t* __restrict__ gbeta) {
  using M = ScalarMath<acc_t>;
  const int64_t K = g.K(), P = g.P(), S = g.S(), C = g.C, plane = g.N * K * P;
  AU_GRID_LOOP(j, g.N * C * P) {
    const int64_t nc = j / P, p = j % P, n = nc / C, c = nc % C, o = g.origin(p);
    const ItemReader<acc_t, scalar_t> xi{x + nc * S + o, &g};
    auto gwi = [&](int64_t i) { return gw ? static_cast<acc_t>(gw[j * K + i]) : acc_t(0); };
    auto gout = [&](int64_t i, acc_t v) {
      if (items) {
        items[(nc * K + i) * P + p] = v;
      } else {
        gx[nc * S + o + g.item(i)] = static_cast<scalar_t>(v);
      }
    };
    const acc_t gyv = static_cast<acc_t>(gy[j]);
    const acc_t b = beta.at(g, n, c, p);
    if (chan) {
      const int64_t base = n * K * P + p;
      auto wd = [&](int64_t i) { return chan[base + i * P]; };
      auto d = [&](int64_t i) { return chan[plane + base + i * P]; };
      auto sg = [&](int64_t i) { return chan[3 * plane + base + i * P]; };
      auto rh = [&](int64_t i) { return rho[base + i * P]; };
      gbeta[j] = adapool_window_backward<acc_t, M>(K, xi, gyv, gwi, b, mean[j], wd, d, sg, rh, kappa[n * P + p], gout);
    } else {
      gbeta[j] = adapool_window_backward_element<acc_t, M>(K, xi, gyv, gwi, b, gout);
    }
  }
}

template <class scalar_t, class acc_t>
__global__ void __launch_bounds__(kThreads) fold_kernel(Geometry g, const acc_t* __restrict__ items, scalar_t* __restrict__ gx) {
  const int64_t K = g.K(), P = g.P(), S = g.S();
  AU_GRID_LOOP(j, g.N * g.C * S) {
    const int64_t nc = j / S, z = j % S;
    acc_t acc = 0;
    for_each_cover(g, z, [&](int64_t p, int64_t i) { acc += items[(nc * K + i) * P + p]; });
    gx[j] = static_cast<scalar_t>(acc);
  }
}

std::vector<int64_t> weights_shape(const Geometry& g) {
  std::vector<int64_t> s = pooled_shape(g);
  s.push_back(g.K());
  return s;
}

std::tuple<at::Tensor, at::Tensor> adapool_forward_cuda(const at::Tensor& x_in, at::IntArrayRef kernel,
                                                        at::IntArrayRef stride, const at::Tensor& beta_t, int64_t dsc,
                                                        bool want_w) {
  TORCH_CHECK(dsc == kDscElement || dsc == kDscChannel, "adaunpool: dsc must be 0 (element) or 1 (channel)");
  TORCH_CHECK(beta_t.device() == x_in.device(), "adaunpool: beta must be on x's device");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const Geometry g = pool_geometry(x_in, kernel, stride);
  const at::Tensor x_t = x_in.contiguous();
  at::Tensor y = at::empty(pooled_shape(g), x_t.options());
  at::Tensor w = want_w ? at::empty(weights_shape(g), x_t.options()) : at::empty({0}, x_t.options());
  if (y.numel() == 0) return {y, w};
  const int64_t K = g.K(), P = g.P();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x_t.scalar_type(), "adapool_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto aopt = x_t.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    const scalar_t* x = x_t.const_data_ptr<scalar_t>();
    const BetaView<acc_t> beta = beta_view<acc_t>(beta_t, g);
    at::Tensor mean, chan;
    if (dsc == kDscChannel) {
      mean = at::empty({g.N, g.C, P}, aopt);
      chan = at::empty({4, g.N, K, P}, aopt);
      window_means_kernel<scalar_t, acc_t><<<grid_for(mean.numel()), kThreads, 0, stream()>>>(
          g, x, mean.mutable_data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      channel_dsc_kernel<scalar_t, acc_t><<<grid_for(g.N * P), kThreads, 0, stream()>>>(
          g, x, mean.const_data_ptr<acc_t>(), chan.mutable_data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    forward_kernel<scalar_t, acc_t><<<grid_for(y.numel()), kThreads, 0, stream()>>>(
        g, x, beta, dsc == kDscChannel ? chan.const_data_ptr<acc_t>() : nullptr, y.mutable_data_ptr<scalar_t>(),
        want_w ? w.mutable_data_ptr<scalar_t>() : nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {y, w};
}

std::tuple<at::Tensor, at::Tensor> adapool_backward_cuda(const at::Tensor& gy_in,
                                                         const c10::optional<at::Tensor>& gw_in, const at::Tensor& x_in,
                                                         at::IntArrayRef kernel, at::IntArrayRef stride,
                                                         const at::Tensor& beta_t, int64_t dsc) {
  TORCH_CHECK(dsc == kDscElement || dsc == kDscChannel, "adaunpool: dsc must be 0 (element) or 1 (channel)");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const Geometry g = pool_geometry(x_in, kernel, stride);
  const at::Tensor x_t = x_in.contiguous();
  TORCH_CHECK(gy_in.sizes() == at::IntArrayRef(pooled_shape(g)), "adaunpool: grad_y has shape ", gy_in.sizes());
  const at::Tensor gy_t = gy_in.to(x_t.scalar_type()).contiguous();
  const bool has_gw = gw_in.has_value() && gw_in->defined() && gw_in->numel() > 0;
  at::Tensor gw_t;
  if (has_gw) {
    TORCH_CHECK(gw_in->sizes() == at::IntArrayRef(weights_shape(g)), "adaunpool: grad_w has shape ", gw_in->sizes());
    gw_t = gw_in->to(x_t.scalar_type()).contiguous();
  }
  const bool direct = g.disjoint();
  // Disjoint windows leave positions no window reaches untouched: they must read 0.
  at::Tensor gx = direct ? at::zeros_like(x_t) : at::empty_like(x_t);
  const auto aopt = x_t.options().dtype(acc_type(x_t.scalar_type()));
  at::Tensor gbeta = at::empty(pooled_shape(g), aopt);
  if (gbeta.numel() == 0) return {gx.zero_(), gbeta};
  const int64_t K = g.K(), P = g.P(), C = g.C;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x_t.scalar_type(), "adapool_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = x_t.const_data_ptr<scalar_t>();
    const scalar_t* gy = gy_t.const_data_ptr<scalar_t>();
    const scalar_t* gw = has_gw ? gw_t.const_data_ptr<scalar_t>() : nullptr;
    const BetaView<acc_t> beta = beta_view<acc_t>(beta_t, g);
    at::Tensor items = direct ? at::Tensor() : at::empty({g.N, C, K, P}, aopt);
    at::Tensor mean, chan, ad, rho, kappa;
    if (dsc == kDscChannel) {
      mean = at::empty({g.N, C, P}, aopt);
      chan = at::empty({4, g.N, K, P}, aopt);
      ad = at::empty({g.N, C, P}, aopt);
      rho = at::empty({g.N, K, P}, aopt);
      kappa = at::empty({g.N, P}, aopt);
      window_means_kernel<scalar_t, acc_t><<<grid_for(mean.numel()), kThreads, 0, stream()>>>(
          g, x, mean.mutable_data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      channel_dsc_kernel<scalar_t, acc_t><<<grid_for(g.N * P), kThreads, 0, stream()>>>(
          g, x, mean.const_data_ptr<acc_t>(), chan.mutable_data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      weighted_grad_kernel<scalar_t, acc_t><<<grid_for(ad.numel()), kThreads, 0, stream()>>>(
          g, x, gy, gw, chan.const_data_ptr<acc_t>(), ad.mutable_data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      channel_rho_kernel<scalar_t, acc_t><<<grid_for(g.N * P), kThreads, 0, stream()>>>(
          g, x, beta, gy, gw, ad.const_data_ptr<acc_t>(), chan.const_data_ptr<acc_t>(), rho.mutable_data_ptr<acc_t>(),
          kappa.mutable_data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    const bool ch = dsc == kDscChannel;
    backward_kernel<scalar_t, acc_t><<<grid_for(gbeta.numel()), kThreads, 0, stream()>>>(
        g, x, beta, gy, gw, ch ? mean.const_data_ptr<acc_t>() : nullptr, ch ? chan.const_data_ptr<acc_t>() : nullptr,
        ch ? rho.const_data_ptr<acc_t>() : nullptr, ch ? kappa.const_data_ptr<acc_t>() : nullptr,
        gx.mutable_data_ptr<scalar_t>(), direct ? nullptr : items.mutable_data_ptr<acc_t>(),
        gbeta.mutable_data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (!direct) {
      fold_kernel<scalar_t, acc_t><<<grid_for(gx.numel()), kThreads, 0, stream()>>>(
          g, items.const_data_ptr<acc_t>(), gx.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {gx, gbeta};
}

}  // namespace detail

TORCH_LIBRARY_IMPL(adaunpool, CUDA, m) {
  m.impl("adapool_forward", &detail::adapool_forward_cuda);
  m.impl("adapool_backward", &detail::adapool_backward_cuda);
}

}  // namespace cuda
}  // namespace adaunpool
