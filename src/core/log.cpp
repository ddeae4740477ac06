// Compiled without LibTorch's include path (see CMake target medvqa_log): spdlog needs Debian's fmt.
#include "medvqa/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace medvqa {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> instance;
  return instance;
}

}  // namespace

void init_logging(const std::string& level, int rank) {
  static const char* kNames[] = {"debug", "info", "warn", "error"};
  int index = -1;
  for (int i = 0; i < 4; ++i)
    if (level == kNames[i]) index = i;
  MEDVQA_CHECK(index >= 0, "log level: expected debug, info, warn or error, got '", level, "'");
  auto lvl = to_spdlog(static_cast<LogLevel>(index));
  if (rank > 0 && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  if (!logger()) logger() = spdlog::stderr_color_st("medvqa");
  logger()->set_pattern(rank > 0 ? "[%H:%M:%S rank " + std::to_string(rank) + "] %^%v%$" : "[%H:%M:%S] %^%v%$");
  logger()->set_level(lvl);
}

void set_log_rank(int rank) {
  if (!logger()) init_logging();
  if (rank == 0) return;
  logger()->set_pattern("[%H:%M:%S rank " + std::to_string(rank) + "] %^%v%$");
  if (logger()->level() < spdlog::level::warn) logger()->set_level(spdlog::level::warn);
}

bool log_enabled(LogLevel level) {
  if (!logger()) init_logging();
  return logger()->should_log(to_spdlog(level));
}

void log_write(LogLevel level, const std::string& message) {
  if (!logger()) init_logging();
  logger()->log(to_spdlog(level), message);
}

}  // namespace medvqa
