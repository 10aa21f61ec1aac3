// libFuzzer target: the checkpoint loader behind summary, evaluate, predict
// and --resume (metadata, tensor table, finite values; Note [Checked sizes])
// must turn any file into a model or a nabla::Error, never a crash, leak,
// hang or a model larger than the file.
#include <cstdlib>

#include "fuzz_input_file.hpp"
#include "nabla/autograd.hpp"
#include "nabla/error.hpp"
#include "nabla/train.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (size_t{1} << 20)) return 0;
  static FuzzInputFile file;
  const std::string& path = file.write(data, size);
  try {
    (void)nabla::train::read_checkpoint_header(path);
  } catch (const nabla::Error&) {
  }
  try {
    nabla::train::SavedModel s = nabla::train::load_model(path);
    if (static_cast<size_t>(s.model->num_parameters()) * 4 > size) std::abort();
    (void)s.model->summary(s.config.layers.front());
    nabla::NoGradGuard ng;
    nabla::Tensor x = nabla::zeros({2, s.config.layers.front()});
    if (s.normalizer.fitted()) x = s.normalizer.apply(x);
    (void)s.model->forward(x);
  } catch (const nabla::Error&) {
  }
  return 0;
}
