// Training subcommands (in progress): until they land, the main job is the demo.
#include "commands.hpp"

namespace nabla::cli {
void register_train(CLI::App&) {}
int run_default() {
  char arg0[] = "nabla", arg1[] = "demo";
  char* argv[] = {arg0, arg1};
  CLI::App app;
  register_demo(app);
  app.parse(2, argv);
  return 0;
}
}  // namespace nabla::cli
