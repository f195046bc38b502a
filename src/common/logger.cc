// The process-wide logger: a level filter in front of a replaceable sink (stderr by default).
#include "tensorforge/logger.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace tensorforge {
namespace {

class StderrLogger : public Logger {
 public:
  void log(Severity severity, const std::string& message) override {
    static const char* kTag[] = {"error", "warning", "info", "verbose"};
    std::fprintf(stderr, "[tensorforge %s] %s\n", kTag[static_cast<int>(severity)], message.c_str());
  }
};

StderrLogger g_default;
std::atomic<Logger*> g_logger{&g_default};
std::atomic<int> g_level{static_cast<int>(Severity::kWarning)};
std::mutex g_mutex;

}  // namespace

void set_logger(Logger* logger) { g_logger.store(logger ? logger : &g_default); }
void set_log_level(Severity level) { g_level.store(static_cast<int>(level)); }
Severity log_level() { return static_cast<Severity>(g_level.load()); }

void log(Severity severity, const std::string& message) {
  if (static_cast<int>(severity) > g_level.load()) return;
  Logger* sink = g_logger.load();
  if (sink != &g_default) {  // an installed logger orders its own output (it may wait for a lock)
    sink->log(severity, message);
    return;
  }
  std::lock_guard<std::mutex> lock(g_mutex);  // whole lines on stderr
  sink->log(severity, message);
}

}  // namespace tensorforge
