// Symbolic differentiation subcommand (in progress).
#include "commands.hpp"

namespace nabla::cli {
void register_diff(CLI::App&) {}
}  // namespace nabla::cli
