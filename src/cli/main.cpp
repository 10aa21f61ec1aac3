// nabla — the command. Errors become one line on stderr and exit code 2.
#include <iostream>
#include <string>

#include "commands.hpp"
#include "nabla/distributed.hpp"
#include "nabla/error.hpp"
#include "nabla/train.hpp"

namespace {

// "did you mean": the option of the (sub)command nearest to a mistyped one.
std::string suggestion(const CLI::App& app, const std::string& typed) {
  const CLI::App* cmd = &app;
  for (const CLI::App* sub : app.get_subcommands()) cmd = sub;
  std::string word = typed.substr(0, typed.find('='));
  if (!word.starts_with("-")) return {};
  word.erase(0, word.find_first_not_of('-'));
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const CLI::Option* o : cmd->get_options())
    for (const std::string& name : o->get_lnames()) {
      const size_t d = nabla::train::edit_distance(word, name);
      if (d < best_distance) best_distance = d, best = name;
    }
  if (best.empty() || best_distance > std::max<size_t>(2, best.size() / 3)) return {};
  return "--" + best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla: matrix calculus for deep learning (gradients, Jacobians, Hessians, training)"};
  app.set_version_flag("--version", std::string("nabla ") + NABLA_VERSION);
  app.require_subcommand(0, 1);
  nabla::cli::register_demo(app);
  nabla::cli::register_train(app);
  nabla::cli::register_diff(app);
  nabla::cli::register_serve(app);
  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) return nabla::cli::run_default();
  } catch (const CLI::ExtrasError& e) {
    // A mistyped option: name it, and the nearest real one.
    const CLI::App* cmd = &app;
    for (const CLI::App* sub : app.get_subcommands()) cmd = sub;
    std::vector<std::string> rest = cmd->remaining();
    if (rest.empty()) rest = app.remaining();
    const std::string typed = rest.empty() ? std::string() : rest.front();
    const std::string near = suggestion(app, typed);
    const std::string name = cmd == &app ? "nabla" : "nabla " + cmd->get_name();
    if (near.empty()) return app.exit(e) == 0 ? 0 : 2;
    std::cerr << "nabla: error: unknown option " << typed << " for " << name << "; did you mean " << near
              << "? (" << name << " --help lists the options)\n";
    return 2;
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
