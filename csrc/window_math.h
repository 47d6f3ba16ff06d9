// Window maths of AdaPool / AdaUnPool, shared by the CPU and the CUDA kernels.
//
// Every function here works on one pooling window and is generic over the value type T and its
// math traits M: on CUDA T is the accumulation scalar (one thread, one window); on the CPU T is an
// at::vec::Vectorized<float> holding 8 neighbouring windows of one output row (or a scalar for the
// row's tail and for float64). Items of a window are read through accessors (lambdas), so the
// same formulas serve both backends; the kernels only decide which windows a thread or a loop visits.
//
// Layout: tensors are canonical 5-D (N, C, D, H, W); p indexes the windows of one (n, c) plane in
// (od, oh, ow) row-major order, i the K items of a window in (kd, kh, kw) row-major order.
// The maths is docs/OPS.md: eM (SoftPool) weights, eDSCW weights in "element" or "channel" mode, the
// fusion with beta, adaUnPool in "mean" or "sum" mode, and their exact gradients (docs/OPS.md#gradients).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define AU_HD __host__ __device__ __forceinline__
#else
#define AU_HD inline
#endif

namespace adaunpool {

constexpr double kDscEps = 1e-8;

enum DscMode : int64_t { kDscElement = 0, kDscChannel = 1 };
enum UnpoolMode : int64_t { kUnpoolMean = 0, kUnpoolSum = 1 };

// Windows of one call: sizes of the full-resolution tensor (N, C, D, H, W), the number of windows
// per dim (oD, oH, oW), kernel and stride.
struct Geometry {
  int64_t N, C, D, H, W;
  int64_t oD, oH, oW;
  int64_t kD, kH, kW;
  int64_t sD, sH, sW;

  AU_HD int64_t K() const { return kD * kH * kW; }
  AU_HD int64_t P() const { return oD * oH * oW; }  // windows per (n, c) plane
  AU_HD int64_t S() const { return D * H * W; }     // positions per (n, c) plane
  // Windows never share an item: gradients and unpooling can scatter without a fold.
  AU_HD bool disjoint() const { return kD <= sD && kH <= sH && kW <= sW; }

  // Plane offset of the first item of window p.
  AU_HD int64_t origin(int64_t p) const {
    const int64_t ow = p % oW, t = p / oW, oh = t % oH, od = t / oH;
    return (od * sD * H + oh * sH) * W + ow * sW;
  }
  // Offset of item i from its window's origin.
  AU_HD int64_t item(int64_t i) const {
    const int64_t kw = i % kW, t = i / kW, kh = t % kH, kd = t / kH;
    return (kd * H + kh) * W + kw;
  }
};

// Windows q along one dim that cover position z: q*s <= z < q*s + k, 0 <= q < o. Empty if lo > hi.
AU_HD void covering(int64_t z, int64_t k, int64_t s, int64_t o, int64_t& lo, int64_t& hi) {
  hi = z / s;
  if (hi > o - 1) hi = o - 1;
  const int64_t t = z - k + 1;
  lo = t <= 0 ? 0 : (t + s - 1) / s;
}

// Visit every (window p, item i) pair that covers plane position z; returns how many there are.
template <class Visit>
AU_HD int64_t for_each_cover(const Geometry& g, int64_t z, const Visit& visit) {
  const int64_t zw = z % g.W, t = z / g.W, zh = t % g.H, zd = t / g.H;
  int64_t d0, d1, h0, h1, w0, w1;
  covering(zd, g.kD, g.sD, g.oD, d0, d1);
  covering(zh, g.kH, g.sH, g.oH, h0, h1);
  covering(zw, g.kW, g.sW, g.oW, w0, w1);
  int64_t count = 0;
  for (int64_t qd = d0; qd <= d1; ++qd)
    for (int64_t qh = h0; qh <= h1; ++qh)
      for (int64_t qw = w0; qw <= w1; ++qw) {
        const int64_t i = ((zd - qd * g.sD) * g.kH + (zh - qh * g.sH)) * g.kW + (zw - qw * g.sW);
        visit((qd * g.oH + qh) * g.oW + qw, i);
        ++count;
      }
  return count;
}

// How many windows cover plane position z (0 for trailing positions no window reaches).
AU_HD int64_t cover_count(const Geometry& g, int64_t z) {
  const int64_t zw = z % g.W, t = z / g.W, zh = t % g.H, zd = t / g.H;
  int64_t d0, d1, h0, h1, w0, w1;
  covering(zd, g.kD, g.sD, g.oD, d0, d1);
  covering(zh, g.kH, g.sH, g.oH, h0, h1);
  covering(zw, g.kW, g.sW, g.oW, w0, w1);
  const int64_t nd = d1 - d0 + 1, nh = h1 - h0 + 1, nw = w1 - w0 + 1;
  return (nd > 0 && nh > 0 && nw > 0) ? nd * nh * nw : 0;
}

// Math traits of a scalar accumulation type (float or double), usable on host and device.
template <class T>
struct ScalarMath {
  static AU_HD T c(double v) { return static_cast<T>(v); }
  static AU_HD T exp(T v) {
    if constexpr (sizeof(T) == sizeof(float)) {
      return ::expf(v);
    } else {
      return ::exp(v);
    }
  }
  static AU_HD T max(T a, T b) { return a > b ? a : b; }
  static AU_HD T abs(T v) { return v < T(0) ? -v : v; }
  static AU_HD T sign(T v) { return static_cast<T>((v > T(0)) - (v < T(0))); }
};

// ------------------------------------------------------------------------------------ statistics

template <class T, class M, class X>
AU_HD T window_max(int64_t K, const X& x) {
  T mx = x(0);
  for (int64_t i = 1; i < K; ++i) mx = M::max(mx, x(i));
  return mx;
}

template <class T, class M, class X>
AU_HD T window_mean(int64_t K, const X& x) {
  T s = M::c(0);
  for (int64_t i = 0; i < K; ++i) s = s + x(i);
  return s / M::c(static_cast<double>(K));
}

// Dice–Sørensen coefficient of scalars ("element" mode) and its denominator q.
template <class T, class M>
AU_HD T dsc_q(T xi, T m) { return xi * xi + m * m + M::c(kDscEps); }
template <class T, class M>
AU_HD T dsc_element(T xi, T m) { return M::c(2) * M::abs(xi * m) / dsc_q<T, M>(xi, m); }

// "channel" mode: one coefficient per item from C-dimensional vectors x_i and the mean m, from
// s_i = sum_c x_ic m_c, xx_i = sum_c x_ic^2 and mm = sum_c m_c^2.
template <class T, class M>
AU_HD void dsc_channel_item(T s, T xx, T mm, T& d, T& q, T& sg) {
  q = xx + mm + M::c(kDscEps);
  d = M::c(2) * M::abs(s) / q;
  sg = M::sign(s);
}

// Item-outer evaluation, no scratch (the CUDA kernels): x(c, i), m(c) read the window;
// out(i, d_i, q_i, sgn(s_i)) receives what the weights and the backward need. Returns
// 1 / sum_j exp(d_j), so that wD_i = exp(d_i) * that. d <= 1, so exp needs no max subtraction.
template <class T, class M, class XC, class MC, class Out>
AU_HD T dsc_channel_window(int64_t C, int64_t K, const XC& x, const MC& m, const Out& out) {
  T mm = M::c(0);
  for (int64_t c = 0; c < C; ++c) mm = mm + m(c) * m(c);
  T sum_e = M::c(0);
  for (int64_t i = 0; i < K; ++i) {
    T s = M::c(0), xx = M::c(0);
    for (int64_t c = 0; c < C; ++c) {
      const T v = x(c, i);
      s = s + v * m(c);
      xx = xx + v * v;
    }
    T d, q, sg;
    dsc_channel_item<T, M>(s, xx, mm, d, q, sg);
    sum_e = sum_e + M::exp(d);
    out(i, d, q, sg);
  }
  return M::c(1) / sum_e;
}

// Channel-outer evaluation (the CPU, which streams one channel at a time): adds channel x's share
// to s[i], xx[i] and *mm; returns the channel's window mean.
template <class T, class M, class X>
AU_HD T dsc_channel_accumulate(int64_t K, const X& x, T* s, T* xx, T* mm) {
  const T m = window_mean<T, M>(K, x);
  *mm = *mm + m * m;
  for (int64_t i = 0; i < K; ++i) {
    const T v = x(i);
    s[i] = s[i] + v * m;
    xx[i] = xx[i] + v * v;
  }
  return m;
}

// ------------------------------------------------------------------------------------- forward

// adaPool of one window. x(i): item i; wd(i): the eDSCW weight of item i (exp(d_i)/sum_j exp(d_j)),
// computed by the caller per mode. Returns y; when want_w, wout(i, W_i) receives the fused weights.
// em: K values of scratch to keep exp(x_i - max) in, or nullptr to compute them again (CUDA threads
// have no per-window scratch; the CPU's float64 path takes that branch too, so both are tested).
template <class T, class M, class X, class WD, class WOut>
AU_HD T adapool_window(int64_t K, const X& x, const WD& wd, T beta, bool want_w, const WOut& wout, T* em = nullptr) {
  const T mx = window_max<T, M>(K, x);
  T sM = M::c(0), yM = M::c(0), yD = M::c(0);
  for (int64_t i = 0; i < K; ++i) {
    const T xi = x(i);
    const T e = M::exp(xi - mx);
    if (em) em[i] = e;
    sM = sM + e;
    yM = yM + e * xi;
    yD = yD + wd(i) * xi;
  }
  const T invM = M::c(1) / sM;
  yM = yM * invM;
  if (want_w) {
    const T one_minus = M::c(1) - beta;
    for (int64_t i = 0; i < K; ++i)
      wout(i, beta * wd(i) + one_minus * (em ? em[i] : M::exp(x(i) - mx)) * invM);
  }
  return yM + beta * (yD - yM);
}

// Element mode: 1 / sum_j exp(d_j) of one window with mean m, so that wD_i = exp(d_i) * that.
template <class T, class M, class X>
AU_HD T dsc_element_inv_sum(int64_t K, const X& x, T m) {
  T sum_e = M::c(0);
  for (int64_t i = 0; i < K; ++i) sum_e = sum_e + M::exp(dsc_element<T, M>(x(i), m));
  return M::c(1) / sum_e;
}

// Element mode adaPool of one window without scratch: exp(d_i) is computed again where needed.
template <class T, class M, class X, class WOut>
AU_HD T adapool_window_element(int64_t K, const X& x, T beta, bool want_w, const WOut& wout) {
  const T m = window_mean<T, M>(K, x);
  const T inv = dsc_element_inv_sum<T, M>(K, x, m);
  auto wd = [&](int64_t i) { return M::exp(dsc_element<T, M>(x(i), m)) * inv; };
  return adapool_window<T, M>(K, x, wd, beta, want_w, wout);
}

// Element mode eDSCW weights of one window into wd[0..K).
template <class T, class M, class X>
AU_HD void dsc_element_weights(int64_t K, const X& x, T* wd) {
  const T m = window_mean<T, M>(K, x);
  T sum_e = M::c(0);
  for (int64_t i = 0; i < K; ++i) {
    wd[i] = M::exp(dsc_element<T, M>(x(i), m));
    sum_e = sum_e + wd[i];
  }
  const T inv = M::c(1) / sum_e;
  for (int64_t i = 0; i < K; ++i) wd[i] = wd[i] * inv;
}

// ------------------------------------------------------------------------------------ backward
//
// With G_i = dL/dW_i + dL/dy * x_i (the total gradient reaching the fused weight of item i):
//   dL/dx_i  = dL/dy W_i + (1-beta) wM_i (G_i - sum_j wM_j G_j) + rho_i (2 sgn_i m - 2 d_i x_i)
//              + (1/K) (sum_j 2 rho_j sgn_j x_j - kappa m)
//   dL/dbeta = sum_i G_i (wD_i - wM_i)
// where r_i = dL/dd_i, rho_i = r_i / q_i, kappa = sum_j 2 rho_j d_j. In element mode
// r_i = beta wD_i (G_i - sum_j wD_j G_j) per channel; in channel mode d is shared by all channels and
// r_i = wD_i sum_c beta_c (G_ic - sum_j wD_j G_jc), so rho and kappa come from a cross-channel pass.

// sum_j wD_j G_j of one channel: the per-channel term the channel-mode cross-channel pass needs.
template <class T, class M, class X, class WD, class GW>
AU_HD T weighted_grad(int64_t K, const X& x, const WD& wd, T gy, const GW& gw) {
  T a = M::c(0);
  for (int64_t i = 0; i < K; ++i) a = a + wd(i) * (gw(i) + gy * x(i));
  return a;
}

// Channel mode, per window position over all channels: r_i, rho_i = r_i / q_i and kappa.
// beta(c), gy(c), gw(c, i), x(c, i), ad(c) = sum_j wD_j G_jc; wd(i), d(i), q(i) from the dsc pass.
template <class T, class M, class XC, class B, class GY, class GWC, class AD, class WD, class DD, class Q, class Out>
AU_HD T dsc_channel_rho(int64_t C, int64_t K, const XC& x, const B& beta, const GY& gy, const GWC& gw, const AD& ad,
                        const WD& wd, const DD& d, const Q& q, const Out& rho_out) {
  T kappa = M::c(0);
  for (int64_t i = 0; i < K; ++i) {
    T s = M::c(0);
    for (int64_t c = 0; c < C; ++c) s = s + beta(c) * (gw(c, i) + gy(c) * x(c, i) - ad(c));
    const T rho = wd(i) * s / q(i);
    rho_out(i, rho);
    kappa = kappa + M::c(2) * rho * d(i);
  }
  return kappa;
}

// Channel-outer twin of dsc_channel_rho: adds channel x's share beta (G_i - sum_j wD_j G_j) to r[i].
template <class T, class M, class X, class WD, class GW>
AU_HD void dsc_channel_rho_accumulate(int64_t K, const X& x, const WD& wd, T beta, T gy, const GW& gw, T* r) {
  const T ad = weighted_grad<T, M>(K, x, wd, gy, gw);
  for (int64_t i = 0; i < K; ++i) r[i] = r[i] + beta * (gw(i) + gy * x(i) - ad);
}

// The gradient of one window (one channel). wd, d, q, sg, rho describe the eDSCW part per item
// (computed locally in element mode, read from the cross-channel pass in channel mode); kappa and m
// likewise. gout(i, dL/dx_i) receives the item gradients; returns dL/dbeta of this window.
template <class T, class M, class X, class GW, class WD, class DD, class SG, class RHO, class GOut>
AU_HD T adapool_window_backward(int64_t K, const X& x, T gy, const GW& gw, T beta, T m, const WD& wd, const DD& d,
                                const SG& sg, const RHO& rho, T kappa, const GOut& gout, T* em = nullptr) {
  const T mx = window_max<T, M>(K, x);
  T sM = M::c(0), aM = M::c(0), tx = M::c(0);
  for (int64_t i = 0; i < K; ++i) {
    const T xi = x(i);
    const T e = M::exp(xi - mx);
    if (em) em[i] = e;
    sM = sM + e;
    aM = aM + e * (gw(i) + gy * xi);
    tx = tx + M::c(2) * rho(i) * sg(i) * xi;
  }
  const T invM = M::c(1) / sM;
  aM = aM * invM;
  const T shared = (tx - kappa * m) / M::c(static_cast<double>(K));
  const T one_minus = M::c(1) - beta;
  T gbeta = M::c(0);
  for (int64_t i = 0; i < K; ++i) {
    const T xi = x(i);
    const T wM = (em ? em[i] : M::exp(xi - mx)) * invM;
    const T wD = wd(i);
    const T G = gw(i) + gy * xi;
    const T W = beta * wD + one_minus * wM;
    gbeta = gbeta + G * (wD - wM);
    gout(i, gy * W + one_minus * wM * (G - aM) + rho(i) * (M::c(2) * sg(i) * m - M::c(2) * d(i) * xi) + shared);
  }
  return gbeta;
}

// Element mode backward of one window: computes the local eDSCW terms, then the common formula.
// scratch: 3K values (eDSCW weights, rho, exp cache), or nullptr to recompute them (CUDA).
template <class T, class M, class X, class GW, class GOut>
AU_HD T adapool_window_backward_element(int64_t K, const X& x, T gy, const GW& gw, T beta, const GOut& gout,
                                        T* scratch = nullptr) {
  const T m = window_mean<T, M>(K, x);
  auto d = [&](int64_t i) { return dsc_element<T, M>(x(i), m); };
  auto sg = [&](int64_t i) { return M::sign(x(i) * m); };
  if (scratch) {
    T* wdb = scratch;
    T* rhob = scratch + K;
    dsc_element_weights<T, M>(K, x, wdb);
    auto wd = [&](int64_t i) { return wdb[i]; };
    const T aD = weighted_grad<T, M>(K, x, wd, gy, gw);
    T kappa = M::c(0);
    for (int64_t i = 0; i < K; ++i) {
      const T xi = x(i);
      rhob[i] = beta * wdb[i] * (gw(i) + gy * xi - aD) / dsc_q<T, M>(xi, m);
      kappa = kappa + M::c(2) * rhob[i] * d(i);
    }
    auto rho = [&](int64_t i) { return rhob[i]; };
    return adapool_window_backward<T, M>(K, x, gy, gw, beta, m, wd, d, sg, rho, kappa, gout, scratch + 2 * K);
  }
  const T invD = dsc_element_inv_sum<T, M>(K, x, m);
  auto wd = [&](int64_t i) { return M::exp(d(i)) * invD; };
  const T aD = weighted_grad<T, M>(K, x, wd, gy, gw);
  auto rho = [&](int64_t i) {
    const T xi = x(i);
    return beta * wd(i) * (gw(i) + gy * xi - aD) / dsc_q<T, M>(xi, m);
  };
  T kappa = M::c(0);
  for (int64_t i = 0; i < K; ++i) kappa = kappa + M::c(2) * rho(i) * d(i);
  return adapool_window_backward<T, M>(K, x, gy, gw, beta, m, wd, d, sg, rho, kappa, gout);
}

// --------------------------------------------------------------------------------------- unpool

// Scale of item contributions at plane position z: K / count(z) in "mean" mode (0 where no window
// covers z), 1 in "sum" mode.
template <class T>
AU_HD T unpool_scale(const Geometry& g, int64_t z, int64_t mode) {
  if (mode == kUnpoolSum) return T(1);
  const int64_t n = cover_count(g, z);
  return n > 0 ? static_cast<T>(g.K()) / static_cast<T>(n) : T(0);
}

}  // namespace adaunpool
