// `nabla train` under mpirun (Note [Distributed runs] in distributed.hpp).
#include "distributed.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

namespace nabla::cli {

dist::Communicator& join_training_job(train::Config& c) {
  dist::Communicator& comm = dist::world();
  if (comm.size() == 1) return comm;
  if (!comm.is_root()) {
    std::fflush(stdout);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, STDOUT_FILENO), ::close(null);
  }
  c.seed = comm.broadcast(c.seed);
  if (c.threads == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    c.threads = std::max(1, cores / comm.local_size());
  }
  return comm;
}

void report_communication(const dist::Communicator& comm) {
  const dist::Stats& s = comm.stats();
  if (comm.size() == 1 || s.allreduces == 0) return;
  const double steps = static_cast<double>(s.allreduces);
  std::printf("allreduce over %d ranks: %lld steps, %.3f MB a step, %.3f ms a step (rank 0, waiting for the others "
              "included)\n",
              comm.size(),
              static_cast<long long>(s.allreduces), static_cast<double>(s.bytes) / steps / 1e6,
              1e3 * s.seconds / steps);
}

}  // namespace nabla::cli
