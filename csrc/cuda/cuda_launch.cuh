// Launch helpers of the CUDA kernels: int64 grid-stride loops on the current stream, launch errors
// raised as exceptions (C10_CUDA_KERNEL_LAUNCH_CHECK), never exit().
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "window_math.h"

namespace adaunpool {
namespace cuda {

constexpr int kThreads = 256;

// Visits j = 0 .. n-1 across the grid; int64 so that tensors over 2^31 elements index correctly.
#define AU_GRID_LOOP(j, n)                                                                  \
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < (n); \
       j += static_cast<int64_t>(gridDim.x) * blockDim.x)

inline dim3 grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  // Enough blocks to fill the device many times over; the grid-stride loop covers the rest.
  return dim3(static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 1 << 20)));
}

inline cudaStream_t stream() { return at::cuda::getCurrentCUDAStream(); }

}  // namespace cuda
}  // namespace adaunpool
