// A small leveled logger (absl in Debian 12 has no absl/log): FTD_LOG(INFO) << ...; FTD_CHECK for invariants.
// Thread-safe: each message is formatted in its own buffer and written to the sink under one lock.
#pragma once

#include <functional>
#include <sstream>
#include <string>

#include "absl/strings/string_view.h"

namespace ftd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };

// Messages below this level are dropped. Default kInfo; FTD_LOG_LEVEL=debug|info|warning|error sets it at start.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

// Parses "debug", "info", "warning", "error" (case-insensitive). Returns false on anything else.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

// Where finished lines go (default: stderr). Tests install a capturing sink; pass nullptr to restore stderr.
using LogSink = std::function<void(LogLevel level, absl::string_view line)>;
void SetLogSink(LogSink sink);

namespace logging_internal {

// One log statement: collects the message, emits it on destruction, aborts after a kFatal message.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage();

  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream of a disabled log statement.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace logging_internal
}  // namespace ftd

#define FTD_LOG_LEVEL_DEBUG ::ftd::LogLevel::kDebug
#define FTD_LOG_LEVEL_INFO ::ftd::LogLevel::kInfo
#define FTD_LOG_LEVEL_WARNING ::ftd::LogLevel::kWarning
#define FTD_LOG_LEVEL_ERROR ::ftd::LogLevel::kError
#define FTD_LOG_LEVEL_FATAL ::ftd::LogLevel::kFatal

// FTD_LOG(INFO) << "text " << value;
#define FTD_LOG(severity)                                                         \
  (FTD_LOG_LEVEL_##severity < ::ftd::MinLogLevel())                               \
      ? (void)0                                                                   \
      : ::ftd::logging_internal::Voidify() &                                      \
            ::ftd::logging_internal::LogMessage(FTD_LOG_LEVEL_##severity, __FILE__, __LINE__).stream()

// Aborts with a message when a broken invariant is found. Never for bad input: return a Status instead.
#define FTD_CHECK(condition)                                                       \
  (condition) ? (void)0                                                            \
              : ::ftd::logging_internal::Voidify() &                               \
                    ::ftd::logging_internal::LogMessage(::ftd::LogLevel::kFatal, __FILE__, __LINE__).stream() \
                        << "Check failed: " #condition " "
