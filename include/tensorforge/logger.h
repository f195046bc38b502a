// Logging: where the library's messages go, and how much of them.
#pragma once

#include <string>

namespace tensorforge {

/// How important a log message is; lower values are more severe.
enum class Severity : int { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

/// Receives the library's log messages; derive from it to route them elsewhere.
class Logger {
 public:
  virtual ~Logger() = default;
  /// Called for every message at or above the logger's level, from whichever thread logs (several
  /// at once: an installed logger synchronizes itself and must outlive its installation).
  virtual void log(Severity severity, const std::string& message) = 0;
};

/// Installs `logger` as the destination of all messages (nullptr restores the default, stderr).
void set_logger(Logger* logger);

/// Messages less severe than `level` are dropped (default: kWarning).
void set_log_level(Severity level);

/// The current level.
Severity log_level();

/// Sends a message to the installed logger if `severity` passes the level.
void log(Severity severity, const std::string& message);

}  // namespace tensorforge
