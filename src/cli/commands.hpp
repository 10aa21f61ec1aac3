// The subcommands of `nabla`. Each lives in its own file and registers itself
// on the CLI11 app; main.cpp only wires them up and maps errors to exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace nabla::cli {

// Thrown by a subcommand to end the program with a given exit code after it
// has printed what it had to say (e.g. `nabla diff --check` on a mismatch).
struct Exit {
  int code;
};

void register_demo(CLI::App& app);   // demo.cpp: textbook derivatives beside their closed forms
void register_train(CLI::App& app);  // train.cpp: nabla train / evaluate / predict / summary
void register_diff(CLI::App& app);   // diff.cpp: symbolic matrix calculus
void register_serve(CLI::App& app);  // serve.cpp: the web page over diff (POST /api/diff)

// What `nabla` with no arguments runs: the main job.
int run_default();

}  // namespace nabla::cli
