// nn::save and nn::load: a module's parameters as a safetensors file, under
// the names named_parameters() gives.
#include "module_io.hpp"

#include "nabla/autograd.hpp"
#include "nabla/train.hpp"

namespace nabla {

namespace train::detail {

void load_named_parameters(nn::Module& model, const io::TensorFile& f, const std::string& path,
                           const std::string& prefix) {
  const auto params = model.named_parameters();
  for (const auto& [name, p] : params) {
    const std::string key = prefix + name;
    NABLA_CHECK_KIND(f.contains(key), ErrorKind::io, path, ": tensor '", key,
                     "' is missing (saved from another architecture?)");
    const Tensor& src = f.at(key);
    NABLA_CHECK_KIND(src.shape() == p.shape() && src.dtype() == p.dtype(), ErrorKind::io, path, ": tensor '", key,
                     "' has shape ", src.shape(), " ", src.dtype(), " but the model expects ", p.shape(), " ",
                     p.dtype(), " (saved from another architecture?)");
  }
  size_t found = 0;
  for (const auto& n : f.names())
    if (n.starts_with(prefix)) ++found;
  NABLA_CHECK_KIND(found == params.size(), ErrorKind::io, path, ": holds ", found,
                   prefix.empty() ? " tensors" : " model tensors", ", the model has ", params.size(),
                   " (saved from another architecture?)");
  // Every tensor fits: only now is the module changed.
  NoGradGuard ng;
  for (auto [name, p] : params) p.copy_(f.at(prefix + name));
}

}  // namespace train::detail

namespace nn {

void save(const Module& module, const std::string& path) {
  io::NamedTensors named;
  for (auto& [name, p] : module.named_parameters()) named.emplace_back(name, p.detach());
  io::save_safetensors(path, named, {{"format", "nabla-module-1"}});
}

void load(Module& module, const std::string& path) {
  train::detail::load_named_parameters(module, io::load_safetensors(path), path, "");
}

}  // namespace nn
}  // namespace nabla
