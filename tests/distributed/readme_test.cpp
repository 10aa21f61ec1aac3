// The README's distributed training loop (section "Across processes: MPI")
// is the code below, character for character, and it trains: compiled here,
// run as one rank (the mpirun runs are in mpirun_test.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "nabla/nabla.hpp"
#include "nabla/data.hpp"
#include "nabla/distributed.hpp"
#include "nabla/io.hpp"
#include "nabla/nn.hpp"
#include "nabla/nn_functional.hpp"
#include "nabla/optim.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Returns the last epoch's mean loss.
double readme_loop(const nabla::data::Dataset& train, int epochs) {
  double epoch_loss = 0;
  // README-BEGIN
  nabla::dist::Communicator& comm = nabla::dist::world();  // MPI under mpirun, else one rank
  nabla::Generator gen(0);
  auto model = nabla::nn::mlp({784, 256, 128, 10}, "relu", "none", gen);
  comm.broadcast(model->parameters());  // rank 0's initial weights on every rank
  nabla::optim::Adam opt(model->parameters(), {.lr = 1e-3});
  nabla::data::DataLoader loader(train, {.batch_size = 128, .seed = 0});  // one order on every rank
  nabla::data::Batch b;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double sum = 0;
    while (loader.next(b)) {
      const int64_t rows = b.features.size(0);
      const auto [lo, hi] = comm.shard(rows);  // this rank's rows of the global batch
      const double share = static_cast<double>(hi - lo) / static_cast<double>(rows);
      opt.zero_grad();
      const double mine = nabla::data_parallel_backward(  // and the threads' split inside the process
          [&](const nabla::Tensor& x, const nabla::Tensor& y) {
            return nabla::cross_entropy(model->forward(x), y) * share;
          },
          b.features.slice(0, lo, hi), b.labels.slice(0, lo, hi), model->parameters());
      sum += comm.allreduce_gradients(opt.params(), mine, 1.0) * static_cast<double>(rows);  // Σ over ranks
      opt.step();
    }
    comm.check_replicas(model->parameters(), "after epoch " + std::to_string(epoch));
    if (comm.is_root()) nabla::io::save_safetensors("model.safetensors", model->named_parameters());
    epoch_loss = sum / static_cast<double>(train.size());
  }
  // README-END
  return epoch_loss;
}

}  // namespace

TEST(DistributedReadme, TheLoopIsTheReadmesAndTrains) {
  const std::string me = slurp(std::string(NABLA_SOURCE_PATH) + "/tests/distributed/readme_test.cpp");
  const std::string readme = slurp(std::string(NABLA_SOURCE_PATH) + "/README.md");
  const size_t a = me.find("  // README-BEGIN\n"), z = me.find("  // README-END\n");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(z, std::string::npos);
  // the loop, unindented by two spaces as the README shows it
  std::string loop;
  std::istringstream lines(me.substr(a + 18, z - a - 18));
  for (std::string line; std::getline(lines, line);) loop += (line.size() >= 2 ? line.substr(2) : line) + "\n";
  const size_t section = readme.find("### Across processes: MPI");
  ASSERT_NE(section, std::string::npos) << "README has no section 'Across processes: MPI'";
  EXPECT_NE(readme.find("```cpp\n" + loop + "```", section), std::string::npos)
      << "the README's loop is not this test's; the test's is:\n" << loop;

  // it trains, as one rank, on a learnable toy set of 784 features
  const fs::path dir = fs::temp_directory_path() / ("nabla_readme_dist_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir);
  nabla::Generator g(1);
  nabla::data::Dataset ds;
  ds.num_classes = 10;
  ds.labels = nabla::zeros({300});
  ds.features = nabla::zeros({300, 784});
  for (int64_t i = 0; i < 300; ++i) {
    const int k = static_cast<int>(g.below(10));
    ds.labels.data_ptr<float>()[i] = static_cast<float>(k);
    for (int64_t j = 0; j < 784; ++j)
      ds.features.data_ptr<float>()[i * 784 + j] = static_cast<float>(g.uniform01() + (j % 10 == k ? 1.0 : 0.0));
  }
  const double first = readme_loop(ds, 1), later = readme_loop(ds, 3);
  EXPECT_TRUE(fs::exists(dir / "model.safetensors"));
  fs::current_path(cwd);
  fs::remove_all(dir);
  EXPECT_LT(later, 0.75 * first) << first << " then " << later;
}
