// libFuzzer target: the IDX reader (plain and gzip, Note [Inflate limit])
// must turn any file into arrays or a nabla::Error, never a crash, leak, hang
// or an allocation beyond what the file's header declares.
#include "fuzz_input_file.hpp"
#include "nabla/data.hpp"
#include "nabla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (size_t{1} << 20)) return 0;
  static FuzzInputFile file;
  const std::string& path = file.write(data, size);
  try {
    nabla::data::IdxArray a = nabla::data::read_idx(path);
    (void)a;
  } catch (const nabla::Error&) {
  }
  try {
    nabla::Tensor x = nabla::data::read_idx_images(path);
    (void)x.numel();
  } catch (const nabla::Error&) {
  }
  try {
    (void)nabla::data::read_idx_labels(path);
  } catch (const nabla::Error&) {
  }
  return 0;
}
