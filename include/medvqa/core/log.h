// Logging: spdlog to stderr behind a small interface, so that spdlog (Debian, external fmt 9)
// and LibTorch's bundled fmt 12 never meet in one translation unit. Messages start with their
// component ("loader: ..."); only rank 0 logs info, every rank logs warnings and errors.
#pragma once

#include <string>

#include "medvqa/core/error.h"

namespace medvqa {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// level: "debug" | "info" | "warn" | "error"; rank > 0 raises the level to warn.
void init_logging(const std::string& level = "info", int rank = 0);
// Once the rank is known: ranks > 0 keep warnings and errors only and tag their lines.
void set_log_rank(int rank);
bool log_enabled(LogLevel level);
void log_write(LogLevel level, const std::string& message);

template <class... Args>
void log_at(LogLevel level, Args&&... args) {
  if (log_enabled(level)) log_write(level, detail::concat(std::forward<Args>(args)...));
}
template <class... Args>
void log_debug(Args&&... args) { log_at(LogLevel::kDebug, std::forward<Args>(args)...); }
template <class... Args>
void log_info(Args&&... args) { log_at(LogLevel::kInfo, std::forward<Args>(args)...); }
template <class... Args>
void log_warn(Args&&... args) { log_at(LogLevel::kWarn, std::forward<Args>(args)...); }
template <class... Args>
void log_error(Args&&... args) { log_at(LogLevel::kError, std::forward<Args>(args)...); }

}  // namespace medvqa
