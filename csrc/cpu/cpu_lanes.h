// CPU lanes: the window maths of window_math.h run on 8 neighbouring windows of one output row at
// once (at::vec::Vectorized<float>), with a scalar tail. Storage dtypes are read and written through
// the lane's load/store, which convert to and from the float accumulator.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/OpMathType.h>

#include <type_traits>
#include <vector>

#include "window_math.h"

namespace adaunpool {
namespace cpu {

using Vec = at::vec::Vectorized<float>;

struct VecMath {
  static Vec c(double v) { return Vec(static_cast<float>(v)); }
  // exp_u20: a polynomial exp (about 20 ulp, 1e-6 relative), several times faster than Sleef's.
  static Vec exp(const Vec& v) { return v.exp_u20(); }
  static Vec max(const Vec& a, const Vec& b) { return at::vec::maximum(a, b); }
  static Vec abs(const Vec& v) { return v.abs(); }
  static Vec sign(const Vec& v) {
    const Vec zero(0.f);
    return v.gt(zero) - v.lt(zero);
  }
};

// Lane<T>: T is the value one evaluation of the window maths works on.
template <class T>
struct Lane;

template <class acc_t>
struct ScalarLane {
  using M = ScalarMath<acc_t>;
  static constexpr int64_t L = 1;
  template <class S>
  static acc_t load(const S* p, int64_t /*stride*/) { return static_cast<acc_t>(*p); }
  template <class S>
  static void store(S* p, int64_t /*stride*/, acc_t v) { *p = static_cast<S>(v); }
};
template <>
struct Lane<float> : ScalarLane<float> {};
template <>
struct Lane<double> : ScalarLane<double> {};

template <>
struct Lane<Vec> {
  using M = VecMath;
  static constexpr int64_t L = Vec::size();
  // Lane l reads p[l * stride].
  template <class S>
  static Vec load(const S* p, int64_t stride) {
    if constexpr (std::is_same_v<S, float>) {
      if (stride == 1) return Vec::loadu(p);
      // A hardware gather: no round trip through memory (a store then a vector load would stall).
      return at::vec::gather<sizeof(float)>(p, at::vec::Vectorized<int32_t>::arange(0, static_cast<int32_t>(stride)));
    } else {
      alignas(64) float tmp[L];
      for (int64_t l = 0; l < L; ++l) tmp[l] = static_cast<float>(p[l * stride]);
      return Vec::loadu(tmp);
    }
  }
  template <class S>
  static void store(S* p, int64_t stride, const Vec& v) {
    if constexpr (std::is_same_v<S, float>) {
      if (stride == 1) return v.store(p);
    }
    alignas(64) float tmp[L];
    v.store(tmp);
    for (int64_t l = 0; l < L; ++l) p[l * stride] = static_cast<S>(tmp[l]);
  }
};

template <class T>
struct Tag {
  using type = T;
};

// body(Tag<T>{}, ow) for the windows ow of one output row: groups of L windows with T = Vec when the
// accumulator is float, then the row's tail one window at a time with T = acc_t.
template <class acc_t, class Body>
void for_each_lane_group(int64_t oW, const Body& body) {
  int64_t ow = 0;
  if constexpr (std::is_same_v<acc_t, float>) {
    for (; ow + Lane<Vec>::L <= oW; ow += Lane<Vec>::L) body(Tag<Vec>{}, ow);
  }
  for (; ow < oW; ++ow) body(Tag<acc_t>{}, ow);
}

// body(r) for every output row r = 0 .. rows-1, in parallel.
template <class Body>
void for_each_row(int64_t rows, int64_t oW, const Body& body) {
  const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(oW, 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) body(r);
  });
}

// body(Tag<T>{}, plane, p) over every window of `planes` planes of rows_per_plane rows of oW windows
// (row r covers windows p = (r % rows_per_plane) * oW + ow of plane r / rows_per_plane).
template <class acc_t, class Body>
void for_each_window(int64_t planes, int64_t rows_per_plane, int64_t oW, const Body& body) {
  for_each_row(planes * rows_per_plane, oW, [&](int64_t r) {
    const int64_t plane = r / rows_per_plane, p0 = (r % rows_per_plane) * oW;
    for_each_lane_group<acc_t>(oW, [&](auto tag, int64_t ow) { body(tag, plane, p0 + ow); });
  });
}

// Per-thread scratch of K values of T (a window's items, its eDSCW weights, ...).
template <class T>
T* scratch(std::vector<T>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

// Where the window maths may cache per-item values: float lanes do; the float64 path passes nullptr
// and recomputes, the branch the CUDA kernels take, so the CPU tests cover both.
template <class T>
T* cache_or_null(T* buf) {
  return std::is_same_v<T, double> ? nullptr : buf;
}

// Plane offsets of the K items of a window, relative to its origin.
inline std::vector<int64_t> item_offsets(const Geometry& g) {
  std::vector<int64_t> off(g.K());
  for (int64_t i = 0; i < g.K(); ++i) off[i] = g.item(i);
  return off;
}

}  // namespace cpu
}  // namespace adaunpool
