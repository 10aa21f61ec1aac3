// Fault injection for write_atomic, so that tests can make a write, fsync or
// rename fail part way and check that the previous file survives. Not part of
// the public API.
#pragma once

#include <cstdint>

namespace nabla::io::detail {

enum class FaultPoint { none, write, fsync, rename };

struct Fault {
  FaultPoint point = FaultPoint::none;
  uint64_t after_bytes = 0;  // for FaultPoint::write: bytes let through before failing
  int error = 0;             // the errno the failing call reports
};

// Arms `fault` for every later write_atomic until cleared with a default Fault.
void inject_fault(const Fault& fault);

// Arms a fault for the lifetime of the guard.
struct FaultGuard {
  explicit FaultGuard(const Fault& f) { inject_fault(f); }
  ~FaultGuard() { inject_fault(Fault{}); }
  FaultGuard(const FaultGuard&) = delete;
  FaultGuard& operator=(const FaultGuard&) = delete;
};

}  // namespace nabla::io::detail
