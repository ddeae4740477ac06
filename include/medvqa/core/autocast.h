// The autocast scope for mixed precision (`with torch.autocast(...)` in C++): which ops run in
// bf16 is LibTorch's autocast policy; callers decide where the scope begins and ends.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace medvqa {

// Autocast on (or off) for one device type within a scope: the previous state comes back and the
// cast cache is cleared when the outermost scope ends.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device_type, bool enabled, c10::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_type_;
  bool was_enabled_;
  c10::ScalarType was_dtype_;
};

}  // namespace medvqa
