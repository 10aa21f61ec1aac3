// nabla/grad_mode.hpp — whether ops record the graph that backward() walks:
// the grad mode of the calling thread and its RAII guards.
#pragma once

namespace nabla {

// Is graph recording on in this thread? (On by default.)
bool is_grad_enabled() noexcept;
void set_grad_enabled(bool enabled) noexcept;

// RAII: disables recording in its scope (as torch::NoGradGuard).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// RAII: sets recording on or off in its scope.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : prev_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~AutoGradMode() { set_grad_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

}  // namespace nabla
