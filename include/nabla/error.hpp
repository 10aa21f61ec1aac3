// nabla/error.hpp — the one exception type and the two checking macros.
//
// User errors (a wrong shape, a bad index, a corrupt file) throw nabla::Error
// through NABLA_CHECK; the message names the op and the shapes involved.
// Broken invariants (a bug in nabla) go through NABLA_ASSERT. Nothing in the
// library aborts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace nabla {

enum class ErrorKind { value, shape, dtype, index, autograd, io, parse, internal };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::value)
      : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace nabla

// NABLA_CHECK(cond, "matmul: shapes ", a, " and ", b, " do not align")
#define NABLA_CHECK(cond, ...)                                     \
  do {                                                             \
    if (!(cond)) [[unlikely]]                                      \
      throw ::nabla::Error(::nabla::detail::concat(__VA_ARGS__));  \
  } while (0)

#define NABLA_CHECK_KIND(cond, kind, ...)                                  \
  do {                                                                     \
    if (!(cond)) [[unlikely]]                                              \
      throw ::nabla::Error(::nabla::detail::concat(__VA_ARGS__), kind);    \
  } while (0)

// Internal invariant: a failure is a bug in nabla, reported as an Error of
// kind `internal` so that even a bug never aborts the process.
#define NABLA_ASSERT(cond)                                                   \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      throw ::nabla::Error(::nabla::detail::concat(                          \
                               "internal error: ", #cond, " at ", __FILE__,  \
                               ":", __LINE__),                               \
                           ::nabla::ErrorKind::internal);                    \
  } while (0)
