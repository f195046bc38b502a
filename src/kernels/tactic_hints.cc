#include "kernels/tactic_hints.h"

#include "kernels/kernel.h"

namespace tensorforge {

void TacticHints::record(const std::string& layer, const std::string& kind, const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  hints_[{layer, kind}] = text;
}

bool TacticHints::find(const std::string& layer, const std::string& kind, std::string& text) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hints_.find({layer, kind});
  if (it == hints_.end()) return false;
  text = it->second;
  return true;
}

size_t TacticHints::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hints_.size();
}

bool followed_hint(const KernelSpec& s, const std::string& kind, std::string& text) {
  return s.hints.hints && s.hints.follow && s.hints.hints->find(s.layer.name, kind, text);
}

void record_hint(const KernelSpec& s, const std::string& kind, const std::string& text) {
  if (s.hints.hints && !s.hints.follow) s.hints.hints->record(s.layer.name, kind, text);
}

}  // namespace tensorforge
