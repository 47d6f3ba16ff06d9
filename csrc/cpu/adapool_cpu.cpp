// adaPool forward and backward on the CPU: at::parallel_for over output rows, at::vec lanes over
// neighbouring windows, float accumulation for every storage dtype (double for float64).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include "cpu/cpu_lanes.h"
#include "ops_common.h"

namespace adaunpool {
namespace cpu {
namespace {

// Pointers and sizes a stage needs; acc buffers use the (n, k, p) or (n, c, p) layouts so that the
// windows of one lane group are contiguous.
template <class scalar_t, class acc_t>
struct PoolArgs {
  Geometry g;
  const scalar_t* x;
  BetaView<acc_t> beta;
};

// Loads item i of the L windows starting at p of plane nc.
template <class T, class scalar_t>
T load_item(const Geometry& g, const scalar_t* x, int64_t nc, int64_t p, int64_t i) {
  return Lane<T>::load(x + nc * g.S() + g.origin(p) + g.item(i), g.sW);
}

template <class T, class acc_t>
T load_beta(const Geometry& g, const BetaView<acc_t>& b, int64_t n, int64_t c, int64_t p) {
  return Lane<T>::load(b.ptr + b.offset(g, n, c, p), b.sw);
}

// Window means (N, C, P): the m of the channel-mode Dice coefficient.
template <class scalar_t, class acc_t>
void window_means(const Geometry& g, const scalar_t* x, acc_t* mean) {
  const int64_t K = g.K(), P = g.P();
  for_each_window<acc_t>(g.N * g.C, g.oD * g.oH, g.oW, [&](auto tag, int64_t nc, int64_t p) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    auto xi = [&](int64_t i) { return load_item<T>(g, x, nc, p, i); };
    Lane<T>::store(mean + nc * P + p, 1, window_mean<T, M>(K, xi));
  });
}

// Channel-mode Dice pass per (n, p): chan holds 4 planes of (N, K, P): wD, d, q, sgn.
template <class scalar_t, class acc_t>
void channel_dsc(const Geometry& g, const scalar_t* x, const acc_t* mean, acc_t* chan) {
  const int64_t K = g.K(), P = g.P(), C = g.C, plane = g.N * K * P;
  acc_t* wd = chan;
  acc_t* dd = chan + plane;
  acc_t* qq = chan + 2 * plane;
  acc_t* sg = chan + 3 * plane;
  for_each_window<acc_t>(g.N, g.oD * g.oH, g.oW, [&](auto tag, int64_t n, int64_t p) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    auto xc = [&](int64_t c, int64_t i) { return load_item<T>(g, x, n * C + c, p, i); };
    auto mc = [&](int64_t c) { return Lane<T>::load(mean + (n * C + c) * P + p, 1); };
    const int64_t base = n * K * P + p;
    auto out = [&](int64_t i, T d, T q, T s) {
      Lane<T>::store(dd + base + i * P, 1, d);
      Lane<T>::store(qq + base + i * P, 1, q);
      Lane<T>::store(sg + base + i * P, 1, s);
    };
    const T inv = dsc_channel_window<T, M>(C, K, xc, mc, out);
    for (int64_t i = 0; i < K; ++i)
      Lane<T>::store(wd + base + i * P, 1, M::exp(Lane<T>::load(dd + base + i * P, 1)) * inv);
  });
}

template <class scalar_t>
std::tuple<at::Tensor, at::Tensor> forward_impl(const at::Tensor& x_in, at::IntArrayRef kernel,
                                                at::IntArrayRef stride, const at::Tensor& beta_t, int64_t dsc,
                                                bool want_w) {
  using acc_t = at::opmath_type<scalar_t>;
  const Geometry g = pool_geometry(x_in, kernel, stride);
  const at::Tensor x_t = x_in.contiguous();
  const int64_t K = g.K(), P = g.P(), C = g.C;
  at::Tensor y = at::empty(pooled_shape(g), x_t.options());
  std::vector<int64_t> wshape = pooled_shape(g);
  wshape.push_back(K);
  at::Tensor w = want_w ? at::empty(wshape, x_t.options()) : at::empty({0}, x_t.options());
  if (y.numel() == 0) return {y, w};

  const scalar_t* x = x_t.const_data_ptr<scalar_t>();
  scalar_t* yp = y.mutable_data_ptr<scalar_t>();
  scalar_t* wp = want_w ? w.mutable_data_ptr<scalar_t>() : nullptr;
  const BetaView<acc_t> beta = beta_view<acc_t>(beta_t, g);
  const auto aopt = x_t.options().dtype(c10::CppTypeToScalarType<acc_t>::value);

  at::Tensor chan;
  if (dsc == kDscChannel) {
    at::Tensor mean = at::empty({g.N, C, P}, aopt);
    chan = at::empty({4, g.N, K, P}, aopt);
    window_means(g, x, mean.mutable_data_ptr<acc_t>());
    channel_dsc(g, x, mean.const_data_ptr<acc_t>(), chan.mutable_data_ptr<acc_t>());
  }
  const acc_t* wd_chan = dsc == kDscChannel ? chan.const_data_ptr<acc_t>() : nullptr;

  for_each_window<acc_t>(g.N * C, g.oD * g.oH, g.oW, [&](auto tag, int64_t nc, int64_t p) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    thread_local std::vector<T> buf;
    T* xb = scratch(buf, 2 * K);
    T* wdb = xb + K;
    const int64_t n = nc / C, c = nc % C;
    for (int64_t i = 0; i < K; ++i) xb[i] = load_item<T>(g, x, nc, p, i);
    auto xi = [&](int64_t i) { return xb[i]; };
    if (wd_chan) {
      for (int64_t i = 0; i < K; ++i) wdb[i] = Lane<T>::load(wd_chan + (n * K + i) * P + p, 1);
    } else {
      dsc_element_weights<T, M>(K, xi, [&](int64_t i, T v) { wdb[i] = v; });
    }
    auto wd = [&](int64_t i) { return wdb[i]; };
    scalar_t* wrow = want_w ? wp + (nc * P + p) * K : nullptr;
    auto wout = [&](int64_t i, T v) { Lane<T>::store(wrow + i, K, v); };
    const T b = load_beta<T>(g, beta, n, c, p);
    Lane<T>::store(yp + nc * P + p, 1, adapool_window<T, M>(K, xi, wd, b, want_w, wout));
  });
  return {y, w};
}

std::tuple<at::Tensor, at::Tensor> adapool_forward_cpu(const at::Tensor& x, at::IntArrayRef kernel,
                                                       at::IntArrayRef stride, const at::Tensor& beta, int64_t dsc,
                                                       bool return_weights) {
  TORCH_CHECK(dsc == kDscElement || dsc == kDscChannel, "adaunpool: dsc must be 0 (element) or 1 (channel)");
  std::tuple<at::Tensor, at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "adapool_forward_cpu", [&] {
    out = forward_impl<scalar_t>(x, kernel, stride, beta, dsc, return_weights);
  });
  return out;
}

// ---------------------------------------------------------------------------------------- backward

template <class scalar_t>
std::tuple<at::Tensor, at::Tensor> backward_impl(const at::Tensor& gy_in, const c10::optional<at::Tensor>& gw_in,
                                                 const at::Tensor& x_in, at::IntArrayRef kernel,
                                                 at::IntArrayRef stride, const at::Tensor& beta_t, int64_t dsc) {
  using acc_t = at::opmath_type<scalar_t>;
  const Geometry g = pool_geometry(x_in, kernel, stride);
  const at::Tensor x_t = x_in.contiguous();
  const int64_t K = g.K(), P = g.P(), C = g.C;
  const auto aopt = x_t.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
  TORCH_CHECK(gy_in.sizes() == at::IntArrayRef(pooled_shape(g)), "adaunpool: grad_y has shape ", gy_in.sizes(),
              ", expected ", at::IntArrayRef(pooled_shape(g)));
  const at::Tensor gy_t = gy_in.to(x_t.scalar_type()).contiguous();
  const bool has_gw = gw_in.has_value() && gw_in->defined() && gw_in->numel() > 0;
  at::Tensor gw_t;
  if (has_gw) {
    std::vector<int64_t> wshape = pooled_shape(g);
    wshape.push_back(K);
    TORCH_CHECK(gw_in->sizes() == at::IntArrayRef(wshape), "adaunpool: grad_w has shape ", gw_in->sizes());
    gw_t = gw_in->to(x_t.scalar_type()).contiguous();
  }
  at::Tensor gx = at::zeros_like(x_t);
  at::Tensor gbeta = at::empty(pooled_shape(g), aopt);
  if (gbeta.numel() == 0) return {gx, gbeta};

  const scalar_t* x = x_t.const_data_ptr<scalar_t>();
  const scalar_t* gy = gy_t.const_data_ptr<scalar_t>();
  const scalar_t* gw = has_gw ? gw_t.const_data_ptr<scalar_t>() : nullptr;
  const BetaView<acc_t> beta = beta_view<acc_t>(beta_t, g);
  acc_t* gb = gbeta.mutable_data_ptr<acc_t>();

  // Item gradients go straight into gx when windows are disjoint, else into (N, C, K, P) to be folded.
  const bool direct = g.disjoint();
  at::Tensor items = direct ? at::Tensor() : at::empty({g.N, C, K, P}, aopt);
  scalar_t* gxp = gx.mutable_data_ptr<scalar_t>();
  acc_t* itp = direct ? nullptr : items.mutable_data_ptr<acc_t>();

  at::Tensor mean, chan, ad, rho, kappa;
  if (dsc == kDscChannel) {
    mean = at::empty({g.N, C, P}, aopt);
    chan = at::empty({4, g.N, K, P}, aopt);
    ad = at::empty({g.N, C, P}, aopt);
    rho = at::empty({g.N, K, P}, aopt);
    kappa = at::empty({g.N, P}, aopt);
    window_means(g, x, mean.mutable_data_ptr<acc_t>());
    channel_dsc(g, x, mean.const_data_ptr<acc_t>(), chan.mutable_data_ptr<acc_t>());
    const acc_t* wdp = chan.const_data_ptr<acc_t>();
    acc_t* adp = ad.mutable_data_ptr<acc_t>();
    // sum_j wD_j G_j per (n, c, p)
    for_each_window<acc_t>(g.N * C, g.oD * g.oH, g.oW, [&](auto tag, int64_t nc, int64_t p) {
      using T = typename decltype(tag)::type;
      using M = typename Lane<T>::M;
      const int64_t n = nc / C;
      auto xi = [&](int64_t i) { return load_item<T>(g, x, nc, p, i); };
      auto wd = [&](int64_t i) { return Lane<T>::load(wdp + (n * K + i) * P + p, 1); };
      auto gwi = [&](int64_t i) { return gw ? Lane<T>::load(gw + (nc * P + p) * K + i, K) : M::c(0); };
      const T gyv = Lane<T>::load(gy + nc * P + p, 1);
      Lane<T>::store(adp + nc * P + p, 1, weighted_grad<T, M>(K, xi, wd, gyv, gwi));
    });
    // rho and kappa per (n, p), across channels
    const int64_t plane = g.N * K * P;
    acc_t* rhop = rho.mutable_data_ptr<acc_t>();
    acc_t* kap = kappa.mutable_data_ptr<acc_t>();
    for_each_window<acc_t>(g.N, g.oD * g.oH, g.oW, [&](auto tag, int64_t n, int64_t p) {
      using T = typename decltype(tag)::type;
      using M = typename Lane<T>::M;
      const int64_t base = n * K * P + p;
      auto xc = [&](int64_t c, int64_t i) { return load_item<T>(g, x, n * C + c, p, i); };
      auto bc = [&](int64_t c) { return load_beta<T>(g, beta, n, c, p); };
      auto gyc = [&](int64_t c) { return Lane<T>::load(gy + (n * C + c) * P + p, 1); };
      auto gwc = [&](int64_t c, int64_t i) {
        return gw ? Lane<T>::load(gw + ((n * C + c) * P + p) * K + i, K) : M::c(0);
      };
      auto adc = [&](int64_t c) { return Lane<T>::load(adp + (n * C + c) * P + p, 1); };
      auto wd = [&](int64_t i) { return Lane<T>::load(wdp + base + i * P, 1); };
      auto d = [&](int64_t i) { return Lane<T>::load(wdp + plane + base + i * P, 1); };
      auto q = [&](int64_t i) { return Lane<T>::load(wdp + 2 * plane + base + i * P, 1); };
      auto out = [&](int64_t i, T v) { Lane<T>::store(rhop + base + i * P, 1, v); };
      Lane<T>::store(kap + n * P + p, 1, dsc_channel_rho<T, M>(C, K, xc, bc, gyc, gwc, adc, wd, d, q, out));
    });
  }

  const acc_t* meanp = dsc == kDscChannel ? mean.const_data_ptr<acc_t>() : nullptr;
  const acc_t* chanp = dsc == kDscChannel ? chan.const_data_ptr<acc_t>() : nullptr;
  const acc_t* rhop = dsc == kDscChannel ? rho.const_data_ptr<acc_t>() : nullptr;
  const acc_t* kap = dsc == kDscChannel ? kappa.const_data_ptr<acc_t>() : nullptr;
  const int64_t plane = g.N * K * P;

  for_each_window<acc_t>(g.N * C, g.oD * g.oH, g.oW, [&](auto tag, int64_t nc, int64_t p) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    thread_local std::vector<T> buf;
    T* xb = scratch(buf, 2 * K);
    T* gwb = xb + K;
    const int64_t n = nc / C, c = nc % C;
    for (int64_t i = 0; i < K; ++i) xb[i] = load_item<T>(g, x, nc, p, i);
    for (int64_t i = 0; i < K; ++i) gwb[i] = gw ? Lane<T>::load(gw + (nc * P + p) * K + i, K) : M::c(0);
    auto xi = [&](int64_t i) { return xb[i]; };
    auto gwi = [&](int64_t i) { return gwb[i]; };
    const T gyv = Lane<T>::load(gy + nc * P + p, 1);
    const T b = load_beta<T>(g, beta, n, c, p);
    auto gout = [&](int64_t i, T v) {
      if (direct) {
        Lane<T>::store(gxp + nc * g.S() + g.origin(p) + g.item(i), g.sW, v);
      } else {
        Lane<T>::store(itp + (nc * K + i) * P + p, 1, v);
      }
    };
    T gbv;
    if (dsc == kDscChannel) {
      const int64_t base = n * K * P + p;
      auto wd = [&](int64_t i) { return Lane<T>::load(chanp + base + i * P, 1); };
      auto d = [&](int64_t i) { return Lane<T>::load(chanp + plane + base + i * P, 1); };
      auto sg = [&](int64_t i) { return Lane<T>::load(chanp + 3 * plane + base + i * P, 1); };
      auto rh = [&](int64_t i) { return Lane<T>::load(rhop + base + i * P, 1); };
      const T m = Lane<T>::load(meanp + nc * P + p, 1);
      const T kv = Lane<T>::load(kap + n * P + p, 1);
      gbv = adapool_window_backward<T, M>(K, xi, gyv, gwi, b, m, wd, d, sg, rh, kv, gout);
    } else {
      gbv = adapool_window_backward_element<T, M>(K, xi, gyv, gwi, b, gout);
    }
    Lane<T>::store(gb + nc * P + p, 1, gbv);
  });

  if (!direct) {  // fold: every input position gathers the items of the windows that cover it
    const acc_t* it = itp;
    const int64_t S = g.S();
    at::parallel_for(0, g.N * C, 1, [&](int64_t nc0, int64_t nc1) {
      for (int64_t nc = nc0; nc < nc1; ++nc)
        for (int64_t z = 0; z < S; ++z) {
          acc_t acc = 0;
          for_each_cover(g, z, [&](int64_t p, int64_t i) { acc += it[(nc * K + i) * P + p]; });
          gxp[nc * S + z] = static_cast<scalar_t>(acc);
        }
    });
  }
  return {gx, gbeta};
}

std::tuple<at::Tensor, at::Tensor> adapool_backward_cpu(const at::Tensor& grad_y,
                                                        const c10::optional<at::Tensor>& grad_w, const at::Tensor& x,
                                                        at::IntArrayRef kernel, at::IntArrayRef stride,
                                                        const at::Tensor& beta, int64_t dsc) {
  TORCH_CHECK(dsc == kDscElement || dsc == kDscChannel, "adaunpool: dsc must be 0 (element) or 1 (channel)");
  std::tuple<at::Tensor, at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "adapool_backward_cpu", [&] {
    out = backward_impl<scalar_t>(grad_y, grad_w, x, kernel, stride, beta, dsc);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(adaunpool, CPU, m) {
  m.impl("adapool_forward", &adapool_forward_cpu);
  m.impl("adapool_backward", &adapool_backward_cpu);
}

}  // namespace cpu
}  // namespace adaunpool
