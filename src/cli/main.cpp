// nabla — the command. Errors become one line on stderr and exit code 2.
#include <iostream>

#include "commands.hpp"
#include "nabla/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"nabla: matrix calculus for deep learning (gradients, Jacobians, Hessians, training)"};
  app.require_subcommand(0, 1);
  nabla::cli::register_demo(app);
  nabla::cli::register_train(app);
  nabla::cli::register_diff(app);
  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) return nabla::cli::run_default();
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const nabla::cli::Exit& e) {
    return e.code;
  } catch (const std::exception& e) {
    std::cerr << "nabla: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
