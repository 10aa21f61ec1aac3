// The gradients' allreduce alone, back to back, for the bytes and time per
// step of BENCHMARKS.md ("Data parallelism across processes"): the
// parameters of 784-256-128-10 (235 146 floats, 4 tensors), their .grad()
// filled, Communicator::allreduce_gradients repeated. Run under mpirun:
//
//   mpirun -np 2 build/rel/bench/allreduce_bench [reps]
//
// Rank 0 prints the median and mean ms per call over reps (after 20 calls of
// warm-up), and the bytes. NABLA_MPI_TIMEOUT=0 waits in MPI_Waitall instead
// of nabla's polling loop (the timeout's), to compare the two.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nabla/distributed.hpp"
#include "nabla/nabla.hpp"
#include "nabla/nn.hpp"

int main(int argc, char** argv) {
  using namespace nabla;
  dist::Communicator& comm = dist::world();
  const int reps = argc > 1 ? std::atoi(argv[1]) : 300;
  Generator gen(0);
  auto model = nn::mlp({784, 256, 128, 10}, "relu", "none", gen);
  std::vector<Tensor> params = model->parameters();
  for (Tensor& p : params) p.set_grad(ones(p.shape()));
  for (int i = 0; i < 20; ++i) comm.allreduce_gradients(params, 1.0);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    comm.allreduce_sum(0);  // start together
    const auto t0 = std::chrono::steady_clock::now();
    comm.allreduce_gradients(params, 1.0);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  double mean = 0;
  for (double v : ms) mean += v / static_cast<double>(ms.size());
  if (comm.is_root())
    std::printf("allreduce_gradients over %d ranks: %lld bytes, median %.3f ms, mean %.3f ms (%d calls; timeout %g s)\n",
                comm.size(), static_cast<long long>(comm.stats().bytes / comm.stats().allreduces), ms[ms.size() / 2],
                mean, reps, comm.options().timeout_seconds);
  return 0;
}
