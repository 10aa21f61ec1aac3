// libFuzzer target: the CSV reader (plain and gzip) must turn any file into a
// Dataset or a nabla::Error, never a crash, leak or hang; what it returns has
// finite float32 values and labels that are class indices.
#include <cmath>
#include <cstdlib>

#include "fuzz_input_file.hpp"
#include "nabla/data.hpp"
#include "nabla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (size_t{1} << 20)) return 0;
  static FuzzInputFile file;
  const std::string& path = file.write(data, size);
  for (bool classification : {true, false}) {
    try {
      nabla::data::CsvOptions o;
      o.classification = classification;
      nabla::data::Dataset ds = nabla::data::read_csv(path, o);
      for (float v : ds.features.to_vector<float>())
        if (!std::isfinite(v)) std::abort();
      for (float v : ds.labels.to_vector<float>())
        if (!std::isfinite(v) || (classification && (v < 0 || v >= float(ds.num_classes)))) std::abort();
    } catch (const nabla::Error&) {
    }
  }
  return 0;
}
