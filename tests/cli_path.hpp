// Where the tests find the `nabla` command: $NABLA_CLI, else the path CMake
// compiled in (NABLA_CLI_PATH); nullptr when neither is known.
#pragma once

#include <cstdlib>

inline const char* nabla_cli_path() {
  if (const char* e = std::getenv("NABLA_CLI")) return e;
#ifdef NABLA_CLI_PATH
  return NABLA_CLI_PATH;
#else
  return nullptr;
#endif
}
