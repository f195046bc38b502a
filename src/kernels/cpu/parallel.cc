// The CPU kernels' thread pool (see parallel.h).
#include "kernels/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#ifdef TENSORFORGE_CPU_OPENMP
#include <omp.h>
#endif

namespace tensorforge::cpu {

namespace {

#ifndef TENSORFORGE_CPU_OPENMP
class Pool {
 public:
  explicit Pool(int threads) {
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs the job on the pool and this thread; false (nothing run) when another caller has it.
  bool run(int64_t chunks, const std::function<void(int64_t)>& chunk) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      chunk_ = &chunk;
      chunks_ = chunks;
      next_ = 0;
      active_ = static_cast<int>(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    take(chunk);
    spin_until([this] { return active_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return active_ == 0; });
    chunk_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void take(const std::function<void(int64_t)>& chunk) {
    for (int64_t c = next_++; c < chunks_; c = next_++) {
      try {
        chunk(c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }
  // Spins for up to kSpin while `ready` is false: a condition variable's wake-up takes tens of
  // microseconds on a virtual machine, longer than many of the products and loops split here (the
  // caller would have taken every range itself before a sleeping worker woke up).
  template <class Ready>
  static void spin_until(Ready ready) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (!ready()) {
      for (int i = 0; i < 64 && !ready(); ++i) pause();
      if (std::chrono::steady_clock::now() > until) return;
    }
  }
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t)>* chunk = nullptr;
      // Jobs come back to back while an engine runs (a layer's loop, then the next layer's):
      // watch for the next one a moment before sleeping.
      spin_until([&] {
        return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen;
      });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        chunk = chunk_;
      }
      take(*chunk);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex busy_;   // held by the caller whose job the pool runs
  std::mutex mutex_;  // the job's fields
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* chunk_ = nullptr;
  int64_t chunks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};  // changed (under mutex_) for each job
  std::atomic<bool> stop_{false};
  static constexpr std::chrono::microseconds kSpin{200};
  std::exception_ptr error_;
};
#endif

int configured_threads() {
  if (const char* env = std::getenv("TENSORFORGE_CPU_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 256) return static_cast<int>(v);
  }
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 64u));
}

#ifndef TENSORFORGE_CPU_OPENMP
Pool& pool() {
  static Pool p(configured_threads());
  return p;
}
#endif

// The process that started the pool: a child forked from it has none of its threads.
const pid_t g_pool_pid = getpid();

}  // namespace

#ifdef TENSORFORGE_CPU_OPENMP
int cpu_threads() {
  static const int threads = configured_threads();
  return threads;
}
#else
int cpu_threads() { return pool().size(); }
#endif

bool forked_child() { return getpid() != g_pool_pid; }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = forked_child() ? 1 : cpu_threads();  // a forked child: inline
  const int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(threads) * kRangesPerThread);
  if (threads == 1 || chunks < 2) {
    fn(0, n);
    return;
  }
  const int64_t size = (n + chunks - 1) / chunks;
  const std::function<void(int64_t)> chunk = [&](int64_t c) {
    const int64_t begin = c * size, end = std::min(n, begin + size);
    if (begin < end) fn(begin, end);
  };
#ifdef TENSORFORGE_CPU_OPENMP
  // One OpenMP team for these loops and oneDNN's kernels (the same runtime): threads of two pools
  // spinning beside each other between layers took the cores from one another.
  if (omp_in_parallel()) {
    fn(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    try {
      chunk(c);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
#else
  if (!pool().run(chunks, chunk)) fn(0, n);  // the pool works for another caller: alone, inline
#endif
}

}  // namespace tensorforge::cpu
