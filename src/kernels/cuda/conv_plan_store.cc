// Convolution plans on disk (see conv_plan_store.h). Text form: a header line, then per plan one
// line of flags and alignment and one of the JSON's length, followed by the JSON's bytes.
#include "kernels/cuda/conv_plan_store.h"

#include <cudnn.h>

#include <sstream>
#include <vector>

#include "codegen/disk_cache.h"
#include "kernels/cuda/device_info.h"

namespace tensorforge::cuda {

namespace {

constexpr const char* kHeader = "tensorforge conv plans 2";
constexpr size_t kMaxJson = size_t(1) << 26;

void put(std::ostringstream& os, const StoredPlan& p) {
  os << p.direct << ' ' << p.gemm << ' ' << p.fused << ' ' << p.nhwc << ' ' << p.staged << ' ' << p.align << '\n'
     << p.json.size() << '\n'
     << p.json;
}

bool get(std::istringstream& is, StoredPlan& p) {
  int direct = -1, gemm = -1, fused = -1, nhwc = -1, staged = -1;
  long long align = 0, size = -1;
  if (!(is >> direct >> gemm >> fused >> nhwc >> staged >> align >> size) || is.get() != '\n') return false;
  for (int flag : {direct, gemm, fused, nhwc, staged})
    if (flag != 0 && flag != 1) return false;
  if (align <= 0 || align > 16 || size < 0 || static_cast<size_t>(size) > kMaxJson || (direct && gemm)) return false;
  if ((direct || gemm) != (size == 0)) return false;  // a cuDNN plan always has its JSON, ours none
  p.direct = direct, p.gemm = gemm, p.fused = fused, p.nhwc = nhwc, p.staged = staged, p.align = align;
  p.json.assign(static_cast<size_t>(size), '\0');
  return static_cast<bool>(is.read(p.json.data(), size));
}

std::string disk_key(const std::string& key) {
  return std::string(kHeader) + "\ncuDNN " + std::to_string(cudnnGetVersion()) + "\nsm_" +
         std::to_string(compute_capability()) + " " + device_name() + "\ntensorforge " TENSORFORGE_VERSION "\n" + key;
}

}  // namespace

std::string encode_plans(const StoredConvPlans& p) {
  std::ostringstream os;
  os << kHeader << '\n' << p.has_loose << '\n';
  put(os, p.main);
  if (p.has_loose) put(os, p.loose);
  return os.str();
}

bool decode_plans(const std::string& text, StoredConvPlans& p) {
  std::istringstream is(text);
  std::string header;
  int has_loose = -1;
  if (!std::getline(is, header) || header != kHeader || !(is >> has_loose) || is.get() != '\n' ||
      (has_loose != 0 && has_loose != 1))
    return false;
  StoredConvPlans out;
  out.has_loose = has_loose;
  if (!get(is, out.main) || (out.has_loose && !get(is, out.loose))) return false;
  if (is.peek() != std::char_traits<char>::eof()) return false;  // trailing bytes: not ours
  p = std::move(out);
  return true;
}

bool load_conv_plans(const std::string& dir, const std::string& key, StoredConvPlans& p) {
  const std::string full = disk_key(key);
  std::vector<char> bytes;
  if (!codegen::read_entry(codegen::cache_file(dir, full, ".convplan"), full, bytes)) return false;
  return decode_plans(std::string(bytes.begin(), bytes.end()), p);
}

void store_conv_plans(const std::string& dir, const std::string& key, const StoredConvPlans& p) {
  const std::string full = disk_key(key);
  const std::string text = encode_plans(p);
  codegen::write_entry(dir, codegen::cache_file(dir, full, ".convplan"), full, std::vector<char>(text.begin(), text.end()));
}

}  // namespace tensorforge::cuda
