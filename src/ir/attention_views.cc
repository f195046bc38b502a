// Attention views (see attention_views.h).
#include "ir/attention_views.h"

#include <variant>

#include "common/broadcast.h"
#include "common/checked_int.h"

namespace tensorforge::ir {

namespace {

const std::vector<int64_t>* ints_attr(const Layer& l, const char* name) {
  auto it = l.attrs.find(name);
  if (it == l.attrs.end()) return nullptr;  // engine files written before the attribute existed
  const auto* v = std::get_if<std::vector<int64_t>>(&it->second);
  return v && !v->empty() ? v : nullptr;
}

}  // namespace

const char* attention_view_attr(int slot) {
  static const char* const kNames[3] = {"q_view", "k_view", "v_view"};
  return kNames[slot];
}

StridedOperand attention_operand(const Layer& l, int slot, const Dims& input) {
  StridedOperand o;
  const std::vector<int64_t>* v = ints_attr(l, attention_view_attr(slot));
  if (!v) {
    o.dims = input;
    o.strides = contiguous_strides(input);
    return o;
  }
  const size_t r = (v->size() - 1) / 2;
  o.dims = Dims(std::vector<int64_t>(v->begin(), v->begin() + r));
  o.strides.assign(v->begin() + r, v->begin() + 2 * r);
  o.offset = v->back();
  return o;
}

std::string check_attention_view(const Layer& l, int slot, const Dims& input) {
  const std::vector<int64_t>* v = ints_attr(l, attention_view_attr(slot));
  if (!v) return {};
  const std::string what = attention_view_attr(slot);
  if (v->size() % 2 != 1 || v->size() < 5 || (v->size() - 1) / 2 > static_cast<size_t>(kMaxDims))
    return what + " must hold [dims..., strides..., offset] for rank 2 to " + std::to_string(kMaxDims);
  const size_t r = (v->size() - 1) / 2;
  if ((*v)[2 * r - 1] != 1) return what + "'s last stride must be 1";
  const int64_t offset = v->back();
  if (offset < 0) return what + "'s offset is negative";
  // The last element named, in checked arithmetic: offset + sum((d - 1) * s) < the input's volume.
  CheckedInt last(offset);
  bool empty = false;
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = (*v)[i], s = (*v)[r + i];
    if (d < 0 || s < 0) return what + " has a negative extent or stride";
    if (d == 0) empty = true;
    last = last + CheckedInt(d > 0 ? d - 1 : 0) * CheckedInt(s);
  }
  if (!last.ok()) return what + " overflows 64-bit integer arithmetic";
  if (!empty && last.value() >= input.volume())
    return what + " reads element " + std::to_string(last.value()) + " of an input of " +
           std::to_string(input.volume()) + " elements " + input.str();
  return {};
}

std::vector<int64_t> attention_out_perm(const Layer& l) {
  const std::vector<int64_t>* p = ints_attr(l, "out_perm");
  return p ? *p : std::vector<int64_t>{};
}

std::vector<int64_t> attention_output_strides(const Layer& l, const Dims& logical) {
  const std::vector<int64_t> perm = attention_out_perm(l);
  if (perm.empty()) return contiguous_strides(logical);
  // Output dim i is logical dim perm[i]: the output's contiguous strides, placed back by perm.
  std::vector<int64_t> out_dims(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_dims[i] = logical[static_cast<int>(perm[i])];
  const std::vector<int64_t> os = contiguous_strides(Dims(out_dims));
  std::vector<int64_t> strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) strides[perm[i]] = os[i];
  return strides;
}

}  // namespace tensorforge::ir
