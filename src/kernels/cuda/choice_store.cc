// Timed choices on disk (see choice_store.h).
#include "kernels/cuda/choice_store.h"

#include <cublasLt.h>
#include <cudnn.h>

#include <vector>

#include "codegen/disk_cache.h"
#include "kernels/cuda/device_info.h"

namespace tensorforge::cuda {

namespace {

constexpr size_t kMaxText = size_t(1) << 16;

std::string disk_key(const std::string& kind, const std::string& key) {
  return "tensorforge timed choice 1\n" + kind + "\ncuBLASLt " + std::to_string(cublasLtGetVersion()) + " cuDNN " +
         std::to_string(cudnnGetVersion()) + "\nsm_" + std::to_string(compute_capability()) + " " + device_name() +
         "\ntensorforge " TENSORFORGE_VERSION " built " __DATE__ " " __TIME__ "\n" + key;
}

}  // namespace

std::string encode_choice(const IndexedChoice& c) {
  return std::to_string(c.index) + " " + std::to_string(c.count) + " " + c.id + "\n" + c.why;
}

bool decode_choice(const std::string& text, IndexedChoice& c) {
  const size_t nl = text.find('\n');
  if (nl == std::string::npos) return false;
  const std::string head = text.substr(0, nl);
  const size_t s1 = head.find(' '), s2 = s1 == std::string::npos ? s1 : head.find(' ', s1 + 1);
  if (s2 == std::string::npos) return false;
  auto number = [](const std::string& t, size_t& out) {
    if (t.empty() || t.size() > 3 || t.find_first_not_of("0123456789") != std::string::npos) return false;
    out = static_cast<size_t>(std::stoul(t));
    return true;
  };
  IndexedChoice r;
  r.id = head.substr(s2 + 1);
  r.why = text.substr(nl + 1);
  if (!number(head.substr(0, s1), r.index) || !number(head.substr(s1 + 1, s2 - s1 - 1), r.count) ||
      r.index >= r.count || r.id.empty() || r.id.find(' ') != std::string::npos || r.why.find('\n') != std::string::npos)
    return false;
  c = std::move(r);
  return true;
}

std::string timing_cache_folder(const std::string& timing_cache_dir) {
  return timing_cache_dir.empty() ? codegen::kernel_cache_dir() : timing_cache_dir;
}

bool load_choice(const std::string& dir, const std::string& kind, const std::string& key, std::string& text) {
  if (dir.empty()) return false;
  const std::string full = disk_key(kind, key);
  std::vector<char> bytes;
  if (!codegen::read_entry(codegen::cache_file(dir, full, ".choice"), full, bytes) || bytes.size() > kMaxText)
    return false;
  text.assign(bytes.begin(), bytes.end());
  return true;
}

void store_choice(const std::string& dir, const std::string& kind, const std::string& key, const std::string& text) {
  if (dir.empty() || text.size() > kMaxText) return;
  const std::string full = disk_key(kind, key);
  codegen::write_entry(dir, codegen::cache_file(dir, full, ".choice"), full, std::vector<char>(text.begin(), text.end()));
}

}  // namespace tensorforge::cuda
