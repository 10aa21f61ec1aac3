// The distributed layer in one process: the sampler's shards, the checksum,
// the one-rank communicator, and gradient accumulation (--accumulate), whose
// steps equal one larger batch. The runs across processes are in
// mpirun_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "nabla/nabla.hpp"
#include "nabla/distributed.hpp"
#include "nabla/train.hpp"

using namespace nabla;
namespace fs = std::filesystem;

TEST(DistributedShard, ShardsPartitionEveryBatch) {
  for (int size : {1, 2, 3, 7, 64})
    for (int64_t rows : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{127}, int64_t{128}, int64_t{1000}}) {
      int64_t next = 0, lo = INT64_MAX, hi = 0;
      for (int r = 0; r < size; ++r) {
        const dist::Range s = dist::shard_range(rows, r, size);
        EXPECT_EQ(s.begin, next) << rows << " rows, rank " << r << " of " << size;
        EXPECT_GE(s.size(), 0);
        lo = std::min(lo, s.size()), hi = std::max(hi, s.size());
        next = s.end;
      }
      EXPECT_EQ(next, rows) << size;
      EXPECT_LE(hi - lo, 1) << rows << " rows over " << size;
    }
  // rows·r/K computed without overflow
  const dist::Range last = dist::shard_range(INT64_MAX, 2, 3);
  EXPECT_EQ(last.end, INT64_MAX);
  EXPECT_EQ(last.begin, INT64_MAX / 3 * 2 + (INT64_MAX % 3) * 2 / 3);
  EXPECT_THROW(dist::shard_range(10, 2, 2), Error);
  EXPECT_THROW(dist::shard_range(-1, 0, 2), Error);
}

TEST(DistributedChecksum, SeesEveryBit) {
  Tensor a = arange(0, 37, 1).to(kFloat32), b = a.clone();
  EXPECT_EQ(dist::checksum({a}), dist::checksum({b}));
  b.data_ptr<float>()[36] = std::nextafter(36.0f, 100.0f);  // the last element's lowest bit
  EXPECT_NE(dist::checksum({a}), dist::checksum({b}));
  // the split into tensors counts: [0..36] is not [0..17] + [18..36]
  EXPECT_NE(dist::checksum({a}), dist::checksum({a.slice(0, 0, 18), a.slice(0, 18, 37)}));
  EXPECT_NE(dist::checksum({a.to(kFloat64)}), dist::checksum({a}));
}

TEST(DistributedWorld, OneProcessIsOneRank) {
  if (dist::launched_world_size() > 0) GTEST_SKIP() << "the test binary itself runs under mpirun";
  dist::Communicator& w = dist::world();
  EXPECT_EQ(w.rank(), 0);
  EXPECT_EQ(w.size(), 1);
  EXPECT_TRUE(w.is_root());
  EXPECT_FALSE(dist::distributed());
  EXPECT_EQ(dist::rank_prefix(), "");
  EXPECT_EQ(w.shard(100).begin, 0);
  EXPECT_EQ(w.shard(100).end, 100);
  EXPECT_EQ(w.broadcast(uint64_t{42}), 42u);
  EXPECT_EQ(w.allreduce_sum(2.5), 2.5);

  // Weight 1: nothing moves. Weight 0.5: the gradients and the loss are scaled,
  // an undefined gradient becomes zeros.
  Tensor p = tensor(std::vector<float>{1, 2, 3}).requires_grad_(), q = zeros({2}).requires_grad_();
  (p * p).sum().backward();  // .grad() = 2p; q has none
  EXPECT_EQ(w.allreduce_gradients({p, q}, 3.0, 1.0), 3.0);
  EXPECT_FALSE(q.grad().defined());
  EXPECT_EQ(w.allreduce_gradients({p, q}, 3.0, 0.5), 1.5);
  EXPECT_EQ(p.grad().to_vector<float>(), (std::vector<float>{1, 2, 3}));
  ASSERT_TRUE(q.grad().defined());
  EXPECT_EQ(q.grad().to_vector<float>(), (std::vector<float>{0, 0}));
  w.check_replicas({p, q}, "in the test");  // one rank: nothing to compare
}

TEST(DistributedWorld, MpiIsInTheBuildWhenCMakeFoundIt) {
#if defined(NABLA_TEST_EXPECT_MPI)
  EXPECT_EQ(dist::built_with_mpi(), NABLA_TEST_EXPECT_MPI != 0);
#else
  GTEST_SKIP() << "the build did not say whether it found MPI";
#endif
}

namespace {

// A learnable CSV: 3 classes from 4 features.
void write_csv(const fs::path& path, int rows, uint64_t seed) {
  Generator g(seed);
  std::ofstream f(path);
  f << "a,b,c,d,label\n";
  for (int i = 0; i < rows; ++i) {
    double x[4];
    for (double& v : x) v = 2 * g.uniform01() - 1;
    const int label = (x[0] + 0.5 * x[1] > 0) + (x[2] > 0.3);
    f << x[0] << "," << x[1] << "," << x[2] << "," << x[3] << "," << label << "\n";
  }
}

}  // namespace

TEST(DistributedAccumulate, StepsOfTwoBatchesEqualOneBatchOfTwiceTheRows) {
  // Note [Sharded steps]: --accumulate 2 at batch 16 sums the gradients of
  // rows [0,16) and [16,32) of the epoch's order into one step, which is the
  // step of batch 32 on the same rows, up to rounding; the last step of an
  // epoch takes what is left (here 270 = 8·32 + 14 rows).
  const fs::path dir = fs::temp_directory_path() / ("nabla_accumulate_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_csv(dir / "d.csv", 300, 3);
  train::Config c;
  c.data = (dir / "d.csv").string();
  c.layers = {4, 16, 3};
  c.epochs = 3;
  c.seed = 7;
  c.threads = 1;
  c.batch_size = 32;
  train::Trainer big(c);
  const auto hb = big.fit();
  c.batch_size = 16;
  c.accumulate = 2;
  train::Trainer acc(c);
  const auto ha = acc.fit();
  c.accumulate = 1;
  train::Trainer small(c);
  const auto hs = small.fit();
  fs::remove_all(dir);
  ASSERT_EQ(ha.size(), 3u);
  for (size_t e = 0; e < ha.size(); ++e) {
    EXPECT_NEAR(ha[e].train_loss, hb[e].train_loss, 1e-5 * hb[e].train_loss) << "epoch " << e + 1;
    EXPECT_GT(std::abs(hs[e].train_loss - hb[e].train_loss), 1e-4) << "batch 16 without accumulation differs";
  }
  const auto pa = acc.model().parameters(), pb = big.model().parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_LT(max(abs(pa[i] - pb[i])).item(), 1e-5) << "parameter " << i;
  // the setting is part of the run: saved, and checked on resume
  EXPECT_EQ(c.to_metadata().at("accumulate"), "1");
  c.accumulate = 4;
  EXPECT_EQ(train::Config::from_metadata(c.to_metadata()).accumulate, 4);
  c.accumulate = 0;
  EXPECT_THROW(c.validate(), Error);
}
