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
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    work(*job);
    for (int d = job->done.load(std::memory_order_acquire); d < blocks;
         d = job->done.load(std::memory_order_acquire))
      job->done.wait(d, std::memory_order_acquire);
    {
      std::lock_guard<std::mutex> lk(mu_);
      current_.reset();
    }
    busy_.store(false, std::memory_order_release);
    return true;
  }

 private:
  struct Job {
    Job(const std::function<void(int)>* f, int b) : fn(f), blocks(b) {}
    const std::function<void(int)>* fn;
    const int blocks;
    std::atomic<int> next{0}, done{0};
  };

  static void work(Job& job) {
    for (;;) {
      int b = job.next.fetch_add(1, std::memory_order_acq_rel);
      if (b >= job.blocks) return;
      (*job.fn)(b);
      if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.blocks) job.done.notify_all();
    }
  }

  void helper_loop(int id) {
    unsigned seen = 0;
    for (;;) {
      epoch_.wait(seen, std::memory_order_acquire);
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
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void run_blocks(int threads, int blocks, const std::function<void(int)>& fn) {
  if (threads <= 1 || blocks <= 1 || !pool().run(threads, blocks, fn))
    for (int i = 0; i < blocks; ++i) fn(i);
}

}  // namespace nabla::kernels
