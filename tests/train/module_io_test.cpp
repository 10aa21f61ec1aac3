// nn::save / nn::load: a module's parameters in safetensors, by the names
// named_parameters() gives, and a clear refusal of another architecture.
#include <gtest/gtest.h>

#include "data/test_files.hpp"
#include "nabla/nabla.hpp"

namespace nabla {
namespace {

using nabla::testing::error_of;
using nabla::testing::TempDir;

TEST(ModuleIo, SaveThenLoadRestoresEveryParameterByName) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Generator g1(1), g2(2);
  auto a = nn::mlp({4, 5, 3}, "relu", "none", g1);
  auto b = nn::mlp({4, 5, 3}, "relu", "none", g2);
  nn::save(*a, path);
  // The file holds exactly named_parameters(), under those names.
  io::TensorFile f = io::load_safetensors(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(f.at("2.bias").to_vector<float>(), a->named_parameters()[3].second.to_vector<float>());
  ASSERT_NE(a->parameters()[0].to_vector<float>(), b->parameters()[0].to_vector<float>());
  nn::load(*b, path);
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_EQ(a->parameters()[i].to_vector<float>(), b->parameters()[i].to_vector<float>()) << i;
  // The same outputs, and b is still a leaf that trains.
  Tensor x = randn({2, 4}, g1);
  EXPECT_EQ(a->forward(x).to_vector<float>(), b->forward(x).to_vector<float>());
  EXPECT_TRUE(b->parameters()[0].requires_grad());
}

TEST(ModuleIo, AnotherArchitectureIsRefusedBeforeAnythingChanges) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Generator g(0);
  nn::save(*nn::mlp({4, 5, 3}, "relu", "none", g), path);
  auto wider = nn::mlp({4, 6, 3}, "relu", "none", g);
  const std::vector<float> before = wider->parameters()[0].to_vector<float>();
  EXPECT_EQ(error_of([&] { nn::load(*wider, path); }),
            path + ": tensor '0.weight' has shape [5,4] float32 but the model expects [6,4] float32 (saved from "
                   "another architecture?)");
  EXPECT_EQ(wider->parameters()[0].to_vector<float>(), before);
  auto deeper = nn::mlp({4, 5, 3, 3}, "relu", "none", g);
  EXPECT_EQ(error_of([&] { nn::load(*deeper, path); }),
            path + ": tensor '4.weight' is missing (saved from another architecture?)");
  auto shallower = nn::mlp({4, 3}, "relu", "none", g);
  nn::save(*nn::mlp({4, 3, 3}, "relu", "none", g), path);
  EXPECT_NE(error_of([&] { nn::load(*shallower, path); }).find("holds 4 tensors, the model has 2"),
            std::string::npos);
}

}  // namespace
}  // namespace nabla
