// Copying a module's parameters out of a safetensors file, shared by
// nn::load and the checkpoints.
#pragma once

#include <string>

#include "nabla/io.hpp"
#include "nabla/nn.hpp"

namespace nabla::train::detail {

// Copies the tensor `prefix + name` of `f` into each of the module's named
// parameters; the file must hold every one with its shape and dtype, and no
// other tensor under `prefix`. Throws (kind io) naming `path` and the first
// tensor that does not fit.
void load_named_parameters(nn::Module& model, const io::TensorFile& f, const std::string& path,
                           const std::string& prefix);

}  // namespace nabla::train::detail
