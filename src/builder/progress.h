// What a long build says while it runs: after a few seconds, where it is (layers done of all, the
// layer being built, time so far) through the logger at info level every few seconds, and, when
// stderr is a terminal, as one line rewritten in place (cleared when the build ends).
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace tensorforge {

class BuildProgress {
 public:
  using Clock = std::function<double()>;                   ///< seconds since some fixed point
  using Sink = std::function<void(const std::string&)>;    ///< receives each report

  /// Reports on `total` layers. Without arguments: the steady clock, the logger at info level,
  /// and a terminal line when stderr is one.
  explicit BuildProgress(size_t total, Clock clock = {}, Sink log = {}, Sink terminal = {});
  ~BuildProgress();
  BuildProgress(const BuildProgress&) = delete;
  BuildProgress& operator=(const BuildProgress&) = delete;

  /// Layer `done` (0-based) of the total is about to be built: `what` names it.
  void layer(size_t done, const std::string& what);

  /// Seconds before the first report, and between reports.
  static constexpr double kFirstAfter = 3.0, kEvery = 2.0;

 private:
  size_t total_;
  Clock clock_;
  Sink log_, terminal_;
  double start_ = 0, last_ = -1;
  bool drew_ = false;
};

}  // namespace tensorforge
