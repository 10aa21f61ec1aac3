// nabla — the command. Errors become one line on stderr and exit code 2.
#include <iostream>
#include <string>

#include "commands.hpp"
#include "nabla/distributed.hpp"
#include "nabla/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"nabla: matrix calculus for deep learning (gradients, Jacobians, Hessians, training)"};
  app.require_subcommand(0, 1);
  nabla::cli::register_demo(app);
  nabla::cli::register_train(app);
  nabla::cli::register_diff(app);
  nabla::cli::register_serve(app);
  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) return nabla::cli::run_default();
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const nabla::cli::Exit& e) {
    return e.code;
  } catch (const std::exception& e) {
    // One line, whatever the message quotes from a file: control characters
    // (newlines, a terminal's escape sequences) are shown as '?'.
    std::string what = e.what();
    for (char& c : what)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    std::cerr << "nabla: error: " << nabla::dist::rank_prefix() << what << "\n";
    nabla::dist::abort_job(2);  // under mpirun: every rank ends, none waits for this one
    return 2;
  }
  return 0;
}
