// threads_used(): how many threads one at::parallel_for of this library runs on now. at::parallel_for
// is an inline template: it spreads work over OpenMP threads only where the code that calls it was
// compiled with -fopenmp, which torch's extension builder does not add by itself (adaunpool/_loader.py
// does). This file is compiled with the kernels' flags, so its answer is theirs; `inter4k doctor` and
// the tests compare it with torch.get_num_threads().
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

namespace {

int64_t threads_used() {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  // Grain 1 and many more items than threads: every thread of the pool gets a chunk.
  const int64_t items = 64 * std::max<int64_t>(at::get_num_threads(), 1);
  at::parallel_for(0, items, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  return static_cast<int64_t>(ids.size());
}

}  // namespace

// No tensor argument to dispatch on: one kernel for every dispatch key.
TORCH_LIBRARY_IMPL(adaunpool, CompositeImplicitAutograd, m) { m.impl("threads_used", &threads_used); }
