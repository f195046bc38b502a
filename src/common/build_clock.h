// Where a build spends its time, by named part, for the engine's build_times() and the reports.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace tensorforge {

/// Collects the time of the TimedParts that end on this thread while it is open (builds run on one
/// thread); clocks nest, and a part goes to the innermost one. With no clock open, parts cost one
/// clock read and are dropped.
class BuildClock {
 public:
  BuildClock();
  ~BuildClock();
  BuildClock(const BuildClock&) = delete;
  BuildClock& operator=(const BuildClock&) = delete;

  /// Milliseconds per part name, summed.
  const std::map<std::string, double>& ms() const { return ms_; }
  /// Adds `ms` to `part` of the innermost open clock of this thread (none open: nothing).
  static void add(const std::string& part, double ms);

 private:
  std::map<std::string, double> ms_;
  BuildClock* outer_;
};

/// Times its own lifetime into BuildClock::add(part) ("cudnn plans", "nvrtc compile", ...).
class TimedPart {
 public:
  explicit TimedPart(const char* part) : part_(part), start_(std::chrono::steady_clock::now()) {}
  ~TimedPart() {
    BuildClock::add(part_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count());
  }
  TimedPart(const TimedPart&) = delete;
  TimedPart& operator=(const TimedPart&) = delete;

 private:
  const char* part_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tensorforge
