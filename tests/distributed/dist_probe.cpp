// The collectives of nabla/distributed.hpp across real ranks, for
// mpirun_test.cpp (`mpirun -np 2 nabla_dist_probe`): each check prints one
// line "rank R: ok NAME" or "rank R: FAIL NAME ...".
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "nabla/distributed.hpp"
#include "nabla/nabla.hpp"

using namespace nabla;

int main() {
  dist::Options o;
  o.bucket_bytes = 24;  // several buckets even for these small tensors
  dist::Communicator& comm = dist::world(o);
  const int r = comm.rank(), k = comm.size();
  int failures = 0;
  auto check = [&](bool ok, const std::string& name, const std::string& detail = "") {
    std::printf("rank %d: %s %s%s\n", r, ok ? "ok" : "FAIL", name.c_str(), ok ? "" : (" " + detail).c_str());
    failures += !ok;
  };

  // broadcast: rank 0's values everywhere, f32 and f64
  Tensor a = full({5}, static_cast<double>(r + 1)), b = full({3}, static_cast<double>(10 * (r + 1)), TensorOptions().dtype(kFloat64));
  comm.broadcast({a, b});
  check(a.to_vector<float>() == std::vector<float>(5, 1.0f) && b.to_vector<double>() == std::vector<double>(3, 10.0),
        "broadcast");
  check(comm.broadcast(std::string(r == 0 ? "from rank 0" : "other")) == "from rank 0", "broadcast-text");

  // allreduce: the average of .grad() over the ranks, in buckets over mixed dtypes; the loss summed
  Tensor p = zeros({7}).requires_grad_(), q = zeros({2, 3}, TensorOptions().dtype(kFloat64)).requires_grad_();
  Tensor unused = zeros({4}).requires_grad_();
  (p * static_cast<double>(r + 1)).sum().backward();  // p.grad() = r + 1
  (q * static_cast<double>(2 * r)).sum().backward();  // q.grad() = 2r
  const double loss = comm.allreduce_gradients({p, q, unused}, static_cast<double>(r));
  const double mean_p = (k + 1) / 2.0, mean_q = static_cast<double>(k - 1);
  check(p.grad().to_vector<float>() == std::vector<float>(7, static_cast<float>(mean_p)), "allreduce-f32");
  check(q.grad().to_vector<double>() == std::vector<double>(6, mean_q), "allreduce-f64");
  check(unused.grad().defined() && unused.grad().to_vector<float>() == std::vector<float>(4, 0.0f), "allreduce-undefined");
  check(std::abs(loss - (k - 1) / 2.0) < 1e-12, "allreduce-loss", std::to_string(loss));
  check(comm.allreduce_sum(1.5) == 1.5 * k, "allreduce-sum");

  // replicas: equal passes, one bit on rank 1 is an error on every rank, naming rank 1
  Tensor w = ones({10});
  try {
    comm.check_replicas({w}, "in the probe");
    check(true, "replicas-equal");
  } catch (const Error& e) {
    check(false, "replicas-equal", e.what());
  }
  if (r == 1) w.data_ptr<float>()[3] = std::nextafter(1.0f, 2.0f);
  try {
    comm.check_replicas({w}, "in the probe");
    check(false, "replicas-differ", "no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    check(msg.find("the replicas diverged in the probe: the parameters of rank 1 differ from rank 0's") !=
              std::string::npos,
          "replicas-differ", msg);
  }
  return failures ? 1 : 0;
}
