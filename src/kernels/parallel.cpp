// nabla's helper pool. See parallel.hpp.
#include "parallel.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nabla::kernels {
namespace {

// A pool of helper threads for block-parallel work. run() hands out block
// indices 0..blocks-1 to the caller and the helpers, first come first served,
// and returns when every block is done. One job at a time: a concurrent second
// caller gets `false` and does its work itself. A helper that wakes late finds
// either the current job or none; it only ever calls the job's function for a
// block it claimed, so a job is never touched after run() returned.
class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    for (auto& t : helpers_) t.join();
  }

  bool run(int threads, int blocks, const std::function<void(int)>& fn) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    auto job = std::make_shared<Job>(&fn, blocks);
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (static_cast<int>(helpers_.size()) < threads - 1) {
        int id = static_cast<int>(helpers_.size());
        helpers_.emplace_back([this, id] { helper_loop(id); });
      }
      current_ = job;
      active_ = threads - 1;
    }
    // Note [Spinning helpers]: a spinning helper sees the new epoch without a
    // system call; only sleeping ones need the futex wake.
    epoch_.fetch_add(1);
    if (sleeping_.load() > 0) epoch_.notify_all();
    work(*job);
    for (int i = 0; i < kSpinPauses && job->done.load(std::memory_order_acquire) < blocks; ++i) pause();
    if (job->done.load(std::memory_order_acquire) < blocks) {
      job->waiting.store(true);
      for (int d = job->done.load(); d < blocks; d = job->done.load()) job->done.wait(d);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      current_.reset();
    }
    busy_.store(false, std::memory_order_release);
    return true;
  }

  void park() { park_.fetch_add(1, std::memory_order_relaxed); }

 private:
  // Note [Spinning helpers]: on a virtual machine a futex wake of a sleeping
  // thread goes through the hypervisor (its vCPU halted) and takes tens of
  // µs; a training step at batch 32 hands out some ten jobs, a few hundred µs
  // apart at most. So after each job a helper polls for the next one for
  // about kSpinPauses pause instructions (some 50–100 µs) before it sleeps,
  // and the caller polls for the last block likewise. park() sends spinning
  // helpers to sleep at once: before a multi-threaded OpenBLAS call, whose
  // own threads need the cores (the thread trap of two pools spinning
  // against each other).
  static constexpr int kSpinPauses = 4000;
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#else
    std::this_thread::yield();
#endif
  }

  struct Job {
    Job(const std::function<void(int)>* f, int b) : fn(f), blocks(b) {}
    const std::function<void(int)>* fn;
    const int blocks;
    std::atomic<int> next{0}, done{0};
    std::atomic<bool> waiting{false};  // the caller sleeps on `done`
  };

  static void work(Job& job) {
    for (;;) {
      int b = job.next.fetch_add(1, std::memory_order_acq_rel);
      if (b >= job.blocks) return;
      (*job.fn)(b);
      if (job.done.fetch_add(1) + 1 == job.blocks && job.waiting.load()) job.done.notify_all();
    }
  }

  void helper_loop(int id) {
    unsigned seen = 0;
    for (;;) {
      const unsigned parked = park_.load(std::memory_order_relaxed);
      for (int i = 0; i < kSpinPauses; ++i) {
        if (epoch_.load(std::memory_order_acquire) != seen || park_.load(std::memory_order_relaxed) != parked) break;
        pause();
      }
      if (epoch_.load() == seen) {
        sleeping_.fetch_add(1);
        epoch_.wait(seen);
        sleeping_.fetch_sub(1);
      }
      seen = epoch_.load(std::memory_order_acquire);
      std::shared_ptr<Job> job;
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_) return;
        if (id < active_) job = current_;
      }
      if (job) work(*job);
    }
  }

  std::mutex mu_;
  std::vector<std::thread> helpers_;
  std::shared_ptr<Job> current_;
  int active_ = 0;
  bool stop_ = false;
  std::atomic<bool> busy_{false};
  std::atomic<unsigned> epoch_{0};
  std::atomic<unsigned> park_{0};
  std::atomic<int> sleeping_{0};
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void park_helpers() { pool().park(); }

void run_blocks(int threads, int blocks, const std::function<void(int)>& fn) {
  if (threads <= 1 || blocks <= 1 || !pool().run(threads, blocks, fn))
    for (int i = 0; i < blocks; ++i) fn(i);
}

}  // namespace nabla::kernels
