// Data-parallel training across processes on MPI (nabla/distributed.hpp).
// Without NABLA_HAVE_MPI every communicator has one rank and the collectives
// are no-ops; started by mpirun, world() then says the build has no MPI.
#include "nabla/distributed.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "nabla/error.hpp"

#ifndef NABLA_HAVE_MPI
#define NABLA_HAVE_MPI 0
#endif
#if NABLA_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only
#include <mpi.h>
#endif

namespace nabla::dist {
namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end && *end == '\0' && n > 0 && n < (1 << 30) ? static_cast<int>(n) : 0;
}

bool g_distributed = false;

// The rows of parameter i in a flat buffer: where, how many bytes.
struct Slot {
  size_t param;
  int64_t offset, bytes;
};
// A bucket: consecutive parameters of one dtype, at most Options::bucket_bytes
// (or one larger parameter).
struct Bucket {
  DType dtype;
  int64_t offset, bytes;
  std::vector<Slot> slots;
};

std::vector<Bucket> make_buckets(const std::vector<Tensor>& params, int64_t limit) {
  std::vector<Bucket> out;
  int64_t offset = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const DType dt = params[i].dtype();
    const int64_t bytes = params[i].numel() * static_cast<int64_t>(itemsize(dt));
    if (out.empty() || out.back().dtype != dt || (out.back().bytes + bytes > limit && !out.back().slots.empty())) {
      offset = (offset + 63) / 64 * 64;  // each bucket on its own cache line: a double after 7 floats is aligned
      out.push_back({dt, offset, 0, {}});
    }
    out.back().slots.push_back({i, offset, bytes});
    out.back().bytes += bytes;
    offset += bytes;
  }
  return out;
}

}  // namespace

bool built_with_mpi() noexcept { return NABLA_HAVE_MPI != 0; }

int launched_world_size() noexcept {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (int n = env_int(name)) return n;
  return 0;
}

bool distributed() noexcept { return g_distributed; }

uint64_t checksum(const std::vector<Tensor>& tensors) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const Tensor& t : tensors) {
    const Tensor c = t.contiguous();
    const auto* p = static_cast<const unsigned char*>(c.raw_data());
    const size_t n = static_cast<size_t>(c.numel()) * itemsize(c.dtype());
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    h = (h ^ n) * 0x100000001b3ull;  // the sizes count too
  }
  return h;
}

Range shard_range(int64_t rows, int rank, int size) {
  NABLA_CHECK(rows >= 0 && size >= 1 && rank >= 0 && rank < size, "shard_range: rank ", rank, " of ", size,
              " of ", rows, " rows");
  const int64_t q = rows / size, m = rows % size;  // rows·r/K = q·r + m·r/K, with m·r < K² (no overflow)
  auto at = [&](int64_t r) { return q * r + m * r / size; };
  return {at(rank), at(rank + 1)};
}

namespace {

#if NABLA_HAVE_MPI
MPI_Datatype mpi_type(DType dt) { return dt == DType::f64 ? MPI_DOUBLE : MPI_FLOAT; }

// Waits for the requests, at most the timeout: MPI_Testall in a loop (it also
// drives the nonblocking collectives' progress, as MPI_Waitall's own loop
// would). The first 256 tests spin, so that the rounds of an allreduce follow
// one another closely; then the loop yields the core at each test, and after
// 1 ms sleeps 50 µs between tests, so that a waiting rank does not take the
// core from the rank it waits for when ranks share cores. Measured on 2
// ranks of a loaded 2-core machine (bench/allreduce_bench.cpp, `nabla train`
// 784-256-128-10): this policy 0.36–0.41 ms per 0.94 MB allreduce back to
// back and 12.6–14.7k samples/s; spinning throughout 0.34 ms but 6.9–7.4k
// samples/s; yielding throughout 0.53–2.7 ms and 13.0–14.4k samples/s.
// Past the timeout the job ends: the requests cannot be cancelled, and a rank
// that stopped answering cannot be waited for.
void wait_all(std::vector<MPI_Request>& reqs, double timeout, const char* what) {
  using clock = std::chrono::steady_clock;
  if (timeout <= 0) {
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    return;
  }
  const auto start = clock::now();
  for (int spins = 0;; ++spins) {
    int done = 0;
    MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE);
    if (done) return;
    if (spins < 256) continue;
    const double waited = std::chrono::duration<double>(clock::now() - start).count();
    if (waited > timeout) {
      std::fprintf(stderr,
                   "nabla: error: %sno answer from the other ranks for %g s in %s (a rank stopped, or the network "
                   "is down); ending every rank\n",
                   rank_prefix().c_str(), timeout, what);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (waited > 1e-3) std::this_thread::sleep_for(std::chrono::microseconds(50));
    else std::this_thread::yield();
  }
}

struct Finalizer {
  ~Finalizer() {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Finalize();
  }
};
#endif

// Messages of at most 1 GiB each (MPI counts are int).
constexpr int64_t kChunk = int64_t{1} << 30;

}  // namespace

Communicator& world(const Options& options) {
  static Communicator* comm = [&] {
    const int launched = launched_world_size();
#if !NABLA_HAVE_MPI
    NABLA_CHECK(launched == 0, "this nabla was built without MPI, so it cannot train across the ", launched,
                " processes mpirun started; rebuild it with MPI (Debian: libopenmpi-dev, found by CMake, "
                "NABLA_WITH_MPI=ON), or run it without mpirun");
#endif
    auto* c = new Communicator();  // never deleted: MPI_Finalize runs after every user
    c->options_ = options;
    if (const char* t = std::getenv("NABLA_MPI_TIMEOUT"); t && *t) {
      char* end = nullptr;
      const double v = std::strtod(t, &end);
      NABLA_CHECK(end && *end == '\0' && v >= 0 && v < 1e9, "NABLA_MPI_TIMEOUT='", t,
                  "' is not a number of seconds (0: wait forever)");
      c->options_.timeout_seconds = v;
    }
    NABLA_CHECK(c->options_.bucket_bytes > 0, "dist::Options: bucket_bytes ", c->options_.bucket_bytes,
                " must be positive");
#if NABLA_HAVE_MPI
    if (launched > 0) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      static Finalizer fin;
      MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &c->size_);
      c->local_size_ = std::max(1, env_int("OMPI_COMM_WORLD_LOCAL_SIZE"));
      g_distributed = c->size_ > 1;
    }
#endif
    return c;
  }();
  return *comm;
}

void abort_job(int code) {
  if (!g_distributed) return;
  std::fflush(stdout);
  std::fflush(stderr);
#if NABLA_HAVE_MPI
  MPI_Abort(MPI_COMM_WORLD, code);
#endif
}

std::string rank_prefix() {
  if (!g_distributed) return "";
  const Communicator& c = world();
  return "rank " + std::to_string(c.rank()) + " of " + std::to_string(c.size()) + ": ";
}

void Communicator::broadcast(const std::vector<Tensor>& tensors) {
  if (size_ == 1) return;
  for (const Tensor& t : tensors)
    NABLA_CHECK(t.defined() && t.is_contiguous(), "Communicator::broadcast: a tensor that is not contiguous");
#if NABLA_HAVE_MPI
  std::vector<MPI_Request> reqs;
  for (const Tensor& t : tensors) {
    const int64_t bytes = t.numel() * static_cast<int64_t>(itemsize(t.dtype()));
    auto* p = static_cast<char*>(t.raw_data());
    for (int64_t off = 0; off < bytes; off += kChunk) {
      reqs.emplace_back();
      MPI_Ibcast(p + off, static_cast<int>(std::min(bytes - off, kChunk)), MPI_BYTE, 0, MPI_COMM_WORLD, &reqs.back());
    }
  }
  wait_all(reqs, options_.timeout_seconds, "broadcast");
#endif
  for (const Tensor& t : tensors) t.mark_written();
}

uint64_t Communicator::broadcast(uint64_t value) {
  if (size_ == 1) return value;
#if NABLA_HAVE_MPI
  std::vector<MPI_Request> reqs(1);
  MPI_Ibcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &reqs[0]);
  wait_all(reqs, options_.timeout_seconds, "broadcast");
#endif
  return value;
}

std::string Communicator::broadcast(const std::string& text) {
  if (size_ == 1) return text;
  std::string out = text;
  out.resize(static_cast<size_t>(broadcast(static_cast<uint64_t>(text.size()))));
#if NABLA_HAVE_MPI
  std::vector<MPI_Request> reqs;
  const auto bytes = static_cast<int64_t>(out.size());
  for (int64_t off = 0; off < bytes; off += kChunk) {
    reqs.emplace_back();
    MPI_Ibcast(out.data() + off, static_cast<int>(std::min(bytes - off, kChunk)), MPI_CHAR, 0, MPI_COMM_WORLD,
               &reqs.back());
  }
  wait_all(reqs, options_.timeout_seconds, "broadcast");
#endif
  return out;
}

double Communicator::allreduce_sum(double value) {
  if (size_ == 1) return value;
#if NABLA_HAVE_MPI
  std::vector<MPI_Request> reqs(1);
  MPI_Iallreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &reqs[0]);
  wait_all(reqs, options_.timeout_seconds, "allreduce");
#endif
  return value;
}

double Communicator::allreduce_gradients(const std::vector<Tensor>& params, double loss, double weight) {
  if (weight < 0) weight = 1.0 / size_;
  if (size_ == 1 && weight == 1) return loss;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Bucket> buckets = make_buckets(params, options_.bucket_bytes);
  const int64_t total = buckets.empty() ? 0 : buckets.back().offset + buckets.back().bytes;
  buffer_.resize(static_cast<size_t>(total));
#if NABLA_HAVE_MPI
  std::vector<MPI_Request> reqs;
#endif
  // Pack each bucket (scaled by weight) and issue its allreduce at once, so
  // that the first buckets travel while the later ones are packed.
  for (const Bucket& b : buckets) {
    for (const Slot& s : b.slots) {
      const Tensor& g = params[s.param].grad();
      dispatch(b.dtype, [&]<class T>() {
        T* out = reinterpret_cast<T*>(buffer_.data() + s.offset);
        const int64_t n = s.bytes / static_cast<int64_t>(sizeof(T));
        if (!g.defined()) return std::fill(out, out + n, T(0));
        const Tensor c = g.contiguous();
        const T* in = c.data_ptr<T>();
        const T w = static_cast<T>(weight);
        if (w == T(1)) std::copy(in, in + n, out);
        else for (int64_t k = 0; k < n; ++k) out[k] = in[k] * w;
      });
    }
#if NABLA_HAVE_MPI
    if (size_ > 1) {
      const int64_t elem = static_cast<int64_t>(itemsize(b.dtype));
      for (int64_t off = 0; off < b.bytes; off += kChunk) {
        reqs.emplace_back();
        MPI_Iallreduce(MPI_IN_PLACE, buffer_.data() + b.offset + off,
                       static_cast<int>(std::min(b.bytes - off, kChunk) / elem), mpi_type(b.dtype), MPI_SUM,
                       MPI_COMM_WORLD, &reqs.back());
      }
    }
#endif
  }
  double l = loss * weight;
#if NABLA_HAVE_MPI
  if (size_ > 1) {
    reqs.emplace_back();
    MPI_Iallreduce(MPI_IN_PLACE, &l, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &reqs.back());
    wait_all(reqs, options_.timeout_seconds, "the gradients' allreduce");
  }
#endif
  for (const Bucket& b : buckets)
    for (const Slot& s : b.slots) {
      Tensor p = params[s.param];
      Tensor g = p.grad();
      if (!g.defined() || !g.is_contiguous()) {
        g = empty(p.shape(), TensorOptions().dtype(p.dtype()));
        p.set_grad(g);
      }
      std::memcpy(g.raw_data(), buffer_.data() + s.offset, static_cast<size_t>(s.bytes));
      g.mark_written();
    }
  stats_.allreduces += 1;
  int64_t moved = static_cast<int64_t>(sizeof(double));  // the loss
  for (const Bucket& b : buckets) moved += b.bytes;      // not the padding between buckets
  stats_.bytes += moved;
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return l;
}

void Communicator::check_replicas(const std::vector<Tensor>& params, const std::string& when) {
  if (size_ == 1) return;
  std::vector<uint64_t> all(static_cast<size_t>(size_), checksum(params));
#if NABLA_HAVE_MPI
  std::vector<MPI_Request> reqs(1);
  const uint64_t mine = all[0];
  MPI_Iallgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &reqs[0]);
  wait_all(reqs, options_.timeout_seconds, "the replicas' checksum");
#endif
  std::string bad;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) bad += (bad.empty() ? "" : ", ") + std::to_string(r);
  NABLA_CHECK(bad.empty(), "the replicas diverged ", when, ": the parameters of rank ", bad,
              " differ from rank 0's (checksums of their bytes); the ranks no longer train one model");
}

}  // namespace nabla::dist
