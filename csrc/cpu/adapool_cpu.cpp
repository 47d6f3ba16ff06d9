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
// Item i of the L windows whose first items start at win (neighbouring windows are sW apart).
// Offsets come precomputed: Geometry::origin/item divide, too slow for the inner loops.
template <class T, class scalar_t>
T load_item(const Geometry& g, const scalar_t* win, const int64_t* off, int64_t i) {
  return Lane<T>::load(win + off[i], g.sW);
}

template <class T, class acc_t>
T load_beta(const Geometry& g, const BetaView<acc_t>& b, int64_t n, int64_t c, int64_t p) {
  return Lane<T>::load(b.ptr + b.offset(g, n, c, p), b.sw);
}

// Window means (N, C, P): the m of the channel-mode Dice coefficient.
template <class scalar_t, class acc_t>
void window_means(const Geometry& g, const scalar_t* x, acc_t* mean) {
  const int64_t K = g.K(), P = g.P();
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
  for_each_window<acc_t>(g.N * g.C, g.oD * g.oH, g.oW, [&](auto tag, int64_t nc, int64_t p) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    const scalar_t* xw = x + nc * g.S() + g.origin(p);
    auto xi = [&](int64_t i) { return load_item<T>(g, xw, off, i); };
    Lane<T>::store(mean + nc * P + p, 1, window_mean<T, M>(K, xi));
  });
}

// Channel-mode Dice pass per (n, p): chan holds 4 planes of (N, K, P): wD, d, q, sgn.
template <class scalar_t, class acc_t>
void channel_dsc(const Geometry& g, const scalar_t* x, const acc_t* mean, acc_t* chan) {
  const int64_t K = g.K(), P = g.P(), C = g.C, plane = g.N * K * P;
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
  acc_t* wd = chan;
  acc_t* dd = chan + plane;
  acc_t* qq = chan + 2 * plane;
  acc_t* sg = chan + 3 * plane;
  for_each_window<acc_t>(g.N, g.oD * g.oH, g.oW, [&](auto tag, int64_t n, int64_t p) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    const scalar_t* xw = x + n * C * g.S() + g.origin(p);
    auto xc = [&](int64_t c, int64_t i) { return load_item<T>(g, xw + c * g.S(), off, i); };
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

// Overlapping windows: one thread per plane adds up the item gradients (N, C, K, P) of its windows.
// Does nothing when items is null (disjoint windows wrote their gradients in place).
template <class scalar_t, class acc_t>
void fold_items(const Geometry& g, const acc_t* items, scalar_t* gx) {
  if (!items) return;
  const int64_t K = g.K(), P = g.P(), S = g.S();
  const std::vector<int64_t> off = item_offsets(g);
  at::parallel_for(0, g.N * g.C, 1, [&](int64_t nc0, int64_t nc1) {
    std::vector<acc_t> acc(S);
    for (int64_t nc = nc0; nc < nc1; ++nc) {
      std::fill(acc.begin(), acc.end(), acc_t(0));
      for (int64_t i = 0; i < K; ++i) {
        const acc_t* row = items + (nc * K + i) * P;
        for (int64_t p = 0; p < P; ++p) acc[g.origin(p) + off[i]] += row[p];
      }
      for (int64_t z = 0; z < S; ++z) gx[nc * S + z] = static_cast<scalar_t>(acc[z]);
    }
  });
}

// ------------------------------------------------------------ channel mode, float: row-fused path
//
// One task per output row (n, od, oh). The Dice sums of the row's windows need every channel, so a
// first sweep over the channels accumulates them (dsc_channel_accumulate), and later sweeps compute
// the outputs while the row's input is still in cache. Per-row values live in a float scratch laid
// out [quantity][item][ow], so lane groups load them contiguously. (float64 takes the staged path
// below, the same staging as the CUDA kernels, so the tests cover both evaluation orders.)

struct RowScratch {
  int64_t K, oW;
  float* base;
  float* at(int64_t slot, int64_t i) const { return base + (slot * K + i) * oW; }  // slot: a [K][oW] block
};
enum RowSlot : int64_t { kS, kXX, kWD, kD, kQ, kSG, kR, kRho, kRowSlots };

// Per-thread scratch: the row's float block, and the K-sized arrays of one lane group (its own
// buffer even when T is float, so a scalar tail never overwrites the row block).
inline float* row_scratch(int64_t n) {
  thread_local std::vector<float> buf;
  return scratch(buf, n);
}
template <class T>
T* lane_scratch(int64_t n) {
  thread_local std::vector<T> buf;
  return scratch(buf, n);
}

// Dice pass of one row: wd, d, q, sg in rs; the channel means of the row in means[C][oW] if asked.
template <class scalar_t>
void channel_row_dsc(const Geometry& g, const scalar_t* x, int64_t n, int64_t p0, const RowScratch& rs, float* mm,
                     float* means) {
  const int64_t K = g.K(), oW = g.oW;
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
  std::fill(rs.at(kS, 0), rs.at(kXX, 0) + K * oW, 0.f);
  std::fill(mm, mm + oW, 0.f);
  const int64_t o0 = g.origin(p0);
  for (int64_t c = 0; c < g.C; ++c) {
    for_each_lane_group<float>(oW, [&](auto tag, int64_t ow) {
      using T = typename decltype(tag)::type;
      using M = typename Lane<T>::M;
      const scalar_t* xw = x + (n * g.C + c) * g.S() + o0 + ow * g.sW;
      T* xb = lane_scratch<T>(3 * K);
      T* sb = xb + K;
      T* xxb = xb + 2 * K;
      for (int64_t i = 0; i < K; ++i) {
        xb[i] = load_item<T>(g, xw, off, i);
        sb[i] = Lane<T>::load(rs.at(kS, i) + ow, 1);
        xxb[i] = Lane<T>::load(rs.at(kXX, i) + ow, 1);
      }
      T mmv = Lane<T>::load(mm + ow, 1);
      const T m = dsc_channel_accumulate<T, M>(K, [&](int64_t i) { return xb[i]; }, sb, xxb, &mmv);
      Lane<T>::store(mm + ow, 1, mmv);
      if (means) Lane<T>::store(means + c * oW + ow, 1, m);
      for (int64_t i = 0; i < K; ++i) {
        Lane<T>::store(rs.at(kS, i) + ow, 1, sb[i]);
        Lane<T>::store(rs.at(kXX, i) + ow, 1, xxb[i]);
      }
    });
  }
  for_each_lane_group<float>(oW, [&](auto tag, int64_t ow) {
    using T = typename decltype(tag)::type;
    using M = typename Lane<T>::M;
    const T mmv = Lane<T>::load(mm + ow, 1);
    T sum_e = M::c(0);
    for (int64_t i = 0; i < K; ++i) {
      T d, q, sg;
      dsc_channel_item<T, M>(Lane<T>::load(rs.at(kS, i) + ow, 1), Lane<T>::load(rs.at(kXX, i) + ow, 1), mmv, d, q, sg);
      const T e = M::exp(d);
      sum_e = sum_e + e;
      Lane<T>::store(rs.at(kD, i) + ow, 1, d);
      Lane<T>::store(rs.at(kQ, i) + ow, 1, q);
      Lane<T>::store(rs.at(kSG, i) + ow, 1, sg);
      Lane<T>::store(rs.at(kWD, i) + ow, 1, e);
    }
    const T inv = M::c(1) / sum_e;
    for (int64_t i = 0; i < K; ++i) Lane<T>::store(rs.at(kWD, i) + ow, 1, Lane<T>::load(rs.at(kWD, i) + ow, 1) * inv);
  });
}

template <class scalar_t>
void channel_forward_rows(const Geometry& g, const scalar_t* x, const BetaView<float>& beta, scalar_t* y,
                          scalar_t* w) {
  const int64_t K = g.K(), P = g.P(), C = g.C, oW = g.oW, rows_per_plane = g.oD * g.oH;
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
  for_each_row(g.N * rows_per_plane, oW, [&](int64_t r) {
    const int64_t n = r / rows_per_plane, p0 = (r % rows_per_plane) * oW, o0 = g.origin(p0);
    float* buf = row_scratch((kRowSlots * K + 1) * oW);
    const RowScratch rs{K, oW, buf};
    channel_row_dsc(g, x, n, p0, rs, buf + kRowSlots * K * oW, nullptr);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t nc = n * C + c;
      for_each_lane_group<float>(oW, [&](auto tag, int64_t ow) {
        using T = typename decltype(tag)::type;
        using M = typename Lane<T>::M;
        const int64_t p = p0 + ow;
        const scalar_t* xw = x + nc * g.S() + o0 + ow * g.sW;
        T* xb = lane_scratch<T>(3 * K);
        T* wdb = xb + K;
        for (int64_t i = 0; i < K; ++i) {
          xb[i] = load_item<T>(g, xw, off, i);
          wdb[i] = Lane<T>::load(rs.at(kWD, i) + ow, 1);
        }
        scalar_t* wrow = w ? w + (nc * P + p) * K : nullptr;
        auto wout = [&](int64_t i, T v) { Lane<T>::store(wrow + i, K, v); };
        const T out = adapool_window<T, M>(K, [&](int64_t i) { return xb[i]; }, [&](int64_t i) { return wdb[i]; },
                                           load_beta<T>(g, beta, n, c, p), w != nullptr, wout, xb + 2 * K);
        Lane<T>::store(y + nc * P + p, 1, out);
      });
    }
  });
}

template <class scalar_t>
void channel_backward_rows(const Geometry& g, const scalar_t* x, const BetaView<float>& beta, const scalar_t* gy,
                           const scalar_t* gw, scalar_t* gx, float* items, float* gbeta) {
  const int64_t K = g.K(), P = g.P(), C = g.C, oW = g.oW, S = g.S(), rows_per_plane = g.oD * g.oH;
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
  for_each_row(g.N * rows_per_plane, oW, [&](int64_t r) {
    const int64_t n = r / rows_per_plane, p0 = (r % rows_per_plane) * oW, o0 = g.origin(p0);
    float* buf = row_scratch((kRowSlots * K + 2 + C) * oW);
    const RowScratch rs{K, oW, buf};
    float* mm = buf + kRowSlots * K * oW;
    float* kappa = mm + oW;
    float* means = kappa + oW;
    channel_row_dsc(g, x, n, p0, rs, mm, means);
    std::fill(rs.at(kR, 0), rs.at(kR, 0) + K * oW, 0.f);
    // r_i = sum_c beta_c (G_ic - sum_j wD_j G_jc), then rho_i = wD_i r_i / q_i and kappa
    for (int64_t c = 0; c < C; ++c) {
      const int64_t nc = n * C + c;
      for_each_lane_group<float>(oW, [&](auto tag, int64_t ow) {
        using T = typename decltype(tag)::type;
        using M = typename Lane<T>::M;
        const int64_t p = p0 + ow;
        const scalar_t* xw = x + nc * g.S() + o0 + ow * g.sW;
        T* xb = lane_scratch<T>(4 * K);
        T* wdb = xb + K;
        T* gwb = xb + 2 * K;
        T* rb = xb + 3 * K;
        for (int64_t i = 0; i < K; ++i) {
          xb[i] = load_item<T>(g, xw, off, i);
          wdb[i] = Lane<T>::load(rs.at(kWD, i) + ow, 1);
          gwb[i] = gw ? Lane<T>::load(gw + (nc * P + p) * K + i, K) : M::c(0);
          rb[i] = Lane<T>::load(rs.at(kR, i) + ow, 1);
        }
        dsc_channel_rho_accumulate<T, M>(K, [&](int64_t i) { return xb[i]; }, [&](int64_t i) { return wdb[i]; },
                                         load_beta<T>(g, beta, n, c, p), Lane<T>::load(gy + nc * P + p, 1),
                                         [&](int64_t i) { return gwb[i]; }, rb);
        for (int64_t i = 0; i < K; ++i) Lane<T>::store(rs.at(kR, i) + ow, 1, rb[i]);
      });
    }
    for_each_lane_group<float>(oW, [&](auto tag, int64_t ow) {
      using T = typename decltype(tag)::type;
      using M = typename Lane<T>::M;
      T kap = M::c(0);
      for (int64_t i = 0; i < K; ++i) {
        const T rho = Lane<T>::load(rs.at(kWD, i) + ow, 1) * Lane<T>::load(rs.at(kR, i) + ow, 1) /
                      Lane<T>::load(rs.at(kQ, i) + ow, 1);
        Lane<T>::store(rs.at(kRho, i) + ow, 1, rho);
        kap = kap + M::c(2) * rho * Lane<T>::load(rs.at(kD, i) + ow, 1);
      }
      Lane<T>::store(kappa + ow, 1, kap);
    });
    for (int64_t c = 0; c < C; ++c) {
      const int64_t nc = n * C + c;
      for_each_lane_group<float>(oW, [&](auto tag, int64_t ow) {
        using T = typename decltype(tag)::type;
        using M = typename Lane<T>::M;
        const int64_t p = p0 + ow;
        const scalar_t* xw = x + nc * g.S() + o0 + ow * g.sW;
        T* xb = lane_scratch<T>(7 * K);
        T* gwb = xb + K;
        T* wdb = xb + 2 * K;
        T* db = xb + 3 * K;
        T* sgb = xb + 4 * K;
        T* rhob = xb + 5 * K;
        for (int64_t i = 0; i < K; ++i) {
          xb[i] = load_item<T>(g, xw, off, i);
          gwb[i] = gw ? Lane<T>::load(gw + (nc * P + p) * K + i, K) : M::c(0);
          wdb[i] = Lane<T>::load(rs.at(kWD, i) + ow, 1);
          db[i] = Lane<T>::load(rs.at(kD, i) + ow, 1);
          sgb[i] = Lane<T>::load(rs.at(kSG, i) + ow, 1);
          rhob[i] = Lane<T>::load(rs.at(kRho, i) + ow, 1);
        }
        auto gout = [&](int64_t i, T v) {
          if (items) {
            Lane<T>::store(items + (nc * K + i) * P + p, 1, v);
          } else {
            Lane<T>::store(gx + nc * S + o0 + ow * g.sW + off[i], g.sW, v);
          }
        };
        auto arr = [](T* a) { return [a](int64_t i) { return a[i]; }; };
        const T gbv = adapool_window_backward<T, M>(
            K, arr(xb), Lane<T>::load(gy + nc * P + p, 1), arr(gwb), load_beta<T>(g, beta, n, c, p),
            Lane<T>::load(means + c * oW + ow, 1), arr(wdb), arr(db), arr(sgb), arr(rhob), Lane<T>::load(kappa + ow, 1),
            gout, xb + 6 * K);
        Lane<T>::store(gbeta + nc * P + p, 1, gbv);
      });
    }
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
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
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

  if constexpr (std::is_same_v<acc_t, float>) {
    if (dsc == kDscChannel) {
      channel_forward_rows(g, x, beta, yp, wp);
      return {y, w};
    }
  }
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
    T* xb = scratch(buf, 3 * K);
    T* wdb = xb + K;
    const int64_t n = nc / C, c = nc % C;
    const scalar_t* xw = x + nc * g.S() + g.origin(p);
    for (int64_t i = 0; i < K; ++i) xb[i] = load_item<T>(g, xw, off, i);
    auto xi = [&](int64_t i) { return xb[i]; };
    scalar_t* wrow = want_w ? wp + (nc * P + p) * K : nullptr;
    auto wout = [&](int64_t i, T v) { Lane<T>::store(wrow + i, K, v); };
    const T b = load_beta<T>(g, beta, n, c, p);
    T out;
    if (!wd_chan && std::is_same_v<T, double>) {  // no scratch: the CUDA kernels' path
      out = adapool_window_element<T, M>(K, xi, b, want_w, wout);
    } else {
      if (wd_chan) {
        for (int64_t i = 0; i < K; ++i) wdb[i] = Lane<T>::load(wd_chan + (n * K + i) * P + p, 1);
      } else {
        dsc_element_weights<T, M>(K, xi, wdb);
      }
      auto wd = [&](int64_t i) { return wdb[i]; };
      out = adapool_window<T, M>(K, xi, wd, b, want_w, wout, cache_or_null(xb + 2 * K));
    }
    Lane<T>::store(yp + nc * P + p, 1, out);
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
  const std::vector<int64_t> offv = item_offsets(g);
  const int64_t* off = offv.data();
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

  if constexpr (std::is_same_v<acc_t, float>) {
    if (dsc == kDscChannel) {
      channel_backward_rows(g, x, beta, gy, gw, gxp, itp, gb);
      fold_items(g, itp, gxp);
      return {gx, gbeta};
    }
  }
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
      const scalar_t* xw = x + nc * g.S() + g.origin(p);
      auto xi = [&](int64_t i) { return load_item<T>(g, xw, off, i); };
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
      const scalar_t* xw = x + n * C * g.S() + g.origin(p);
      auto xc = [&](int64_t c, int64_t i) { return load_item<T>(g, xw + c * g.S(), off, i); };
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
    T* xb = scratch(buf, 5 * K);
    T* gwb = xb + K;
    T* work = cache_or_null(xb + 2 * K);  // 3K of scratch for the window maths
    const int64_t n = nc / C, c = nc % C;
    const scalar_t* xw = x + nc * g.S() + g.origin(p);
    for (int64_t i = 0; i < K; ++i) xb[i] = load_item<T>(g, xw, off, i);
    for (int64_t i = 0; i < K; ++i) gwb[i] = gw ? Lane<T>::load(gw + (nc * P + p) * K + i, K) : M::c(0);
    auto xi = [&](int64_t i) { return xb[i]; };
    auto gwi = [&](int64_t i) { return gwb[i]; };
    const T gyv = Lane<T>::load(gy + nc * P + p, 1);
    const T b = load_beta<T>(g, beta, n, c, p);
    auto gout = [&](int64_t i, T v) {
      if (direct) {
        Lane<T>::store(gxp + nc * g.S() + g.origin(p) + off[i], g.sW, v);
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
      gbv = adapool_window_backward<T, M>(K, xi, gyv, gwi, b, m, wd, d, sg, rh, kv, gout, work);
    } else {
      gbv = adapool_window_backward_element<T, M>(K, xi, gyv, gwi, b, gout, work);
    }
    Lane<T>::store(gb + nc * P + p, 1, gbv);
  });

  fold_items(g, itp, gxp);
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
