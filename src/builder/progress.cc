// Progress reports of long builds (see progress.h).
#include "builder/progress.h"

#include <unistd.h>

#include <cstdio>

#include "tensorforge/logger.h"

namespace tensorforge {

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void draw(const std::string& line) {
  // \r returns to the line's start, \033[K clears what a longer previous line left.
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

}  // namespace

BuildProgress::BuildProgress(size_t total, Clock clock, Sink log, Sink terminal)
    : total_(total), clock_(clock ? std::move(clock) : Clock(steady_seconds)), log_(std::move(log)),
      terminal_(std::move(terminal)) {
  if (!log_) log_ = [](const std::string& m) { tensorforge::log(Severity::kInfo, m); };
  if (!terminal_ && ::isatty(STDERR_FILENO)) terminal_ = draw;
  start_ = clock_();
}

BuildProgress::~BuildProgress() {
  if (drew_ && terminal_) terminal_("");  // clears the line
}

void BuildProgress::layer(size_t done, const std::string& what) {
  const double now = clock_(), elapsed = now - start_;
  if (elapsed < kFirstAfter || (last_ >= 0 && now - last_ < kEvery)) return;
  last_ = now;
  char head[96];
  std::snprintf(head, sizeof head, "building the engine: %zu of %zu layers done, %.0f s so far", done, total_,
                elapsed);
  log_(std::string(head) + "; now " + what);
  if (terminal_) {
    terminal_(std::string("[tensorforge] ") + head);
    drew_ = true;
  }
}

}  // namespace tensorforge
