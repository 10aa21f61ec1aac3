// libFuzzer target: the safetensors reader (Note [Header parsing]) must turn
// any bytes into tensors or a one-line nabla::Error, never a crash, leak,
// hang or deep recursion; the file and memory readers agree.
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_input_file.hpp"
#include "nabla/error.hpp"
#include "nabla/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (size_t{1} << 20)) return 0;
  static FuzzInputFile file;
  const std::string& path = file.write(data, size);
  std::string from_memory, from_file;
  size_t tensors = 0;
  try {
    nabla::io::TensorFile f = nabla::io::from_safetensors(
        std::string_view(reinterpret_cast<const char*>(data), size), "x");
    tensors = f.tensors.size();
    try {
      // What was read writes back and reads again to as many tensors (the
      // writer may refuse a name the reader takes: "", invalid UTF-8).
      nabla::io::TensorFile g = nabla::io::from_safetensors(nabla::io::to_safetensors(f.tensors, f.metadata), "y");
      if (g.tensors.size() != tensors || g.metadata != f.metadata) std::abort();
    } catch (const nabla::Error&) {
    }
  } catch (const nabla::Error& e) {
    from_memory = e.what();
  }
  try {
    nabla::io::SafetensorsHeader h = nabla::io::read_safetensors_header(path);
    if (!from_memory.empty() || h.tensors.size() != tensors) std::abort();
    (void)nabla::io::load_safetensors(path);
  } catch (const nabla::Error& e) {
    from_file = e.what();
    if (from_file.find('\n') != std::string::npos || from_file.size() > 2000) std::abort();
  }
  if (from_memory.empty() != from_file.empty()) std::abort();
  return 0;
}
