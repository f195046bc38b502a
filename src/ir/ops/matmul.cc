// Matrix layers: matmul (batched, numpy-broadcast batch dims, optional transposes, an optional bias
// over the output's last dim and an optional residual of the output's shape added, then an
// activation) and attention (scaled dot-product
// attention with an optional bool/additive mask, causal flag and grouped-query key/value heads; its
// operands may be strided views of its inputs and its output permuted: ir/attention_views.h).
// Inference checks every shape relation and flag the CPU kernels rely on.
#include <string>

#include "common/broadcast.h"
#include "ir/attention_views.h"
#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

bool flag_attr(InferContext& c, const char* name) {
  int64_t v = c.get_int(name);
  if (v != 0 && v != 1) c.fail(std::string(name) + " must be 0 or 1, got " + std::to_string(v));
  return v != 0;
}

// The leading (batch) dims of d: all but the last two.
Dims batch_dims(const Dims& d) {
  std::vector<int64_t> v = d.vec();
  v.resize(v.size() - 2);
  return Dims(v);
}

std::string transposed_note(bool ta, bool tb) {
  return " (transpose_a=" + std::to_string(ta) + ", transpose_b=" + std::to_string(tb) + ")";
}

void infer_matmul(InferContext& c) {
  bool ta = flag_attr(c, "transpose_a"), tb = flag_attr(c, "transpose_b");
  const Dims &a = c.dims(0), &b = c.dims(1);
  if (a.rank() < 2 || b.rank() < 2) c.fail("both operands need rank >= 2");
  DataType t = c.dtype(0);
  if (t != c.dtype(1))
    c.fail(std::string("operands have different dtypes (") + to_string(t) + " and " + to_string(c.dtype(1)) +
           "); cast one of them first");
  if (!is_floating(t) && t != DataType::kInt32 && t != DataType::kInt64)
    c.fail(std::string("matmul takes float32, float16, bfloat16, int32 or int64, not ") + to_string(t));
  int ra = a.rank(), rb = b.rank();
  int64_t m = ta ? a[ra - 1] : a[ra - 2], ka = ta ? a[ra - 2] : a[ra - 1];
  int64_t kb = tb ? b[rb - 1] : b[rb - 2], n = tb ? b[rb - 2] : b[rb - 1];
  if (ka != kb)
    c.fail("inner dimensions differ: K of a is " + std::to_string(ka) + ", K of b is " + std::to_string(kb) +
           transposed_note(ta, tb));
  Dims batch;
  if (!broadcast_shape(batch_dims(a), batch_dims(b), batch))
    c.fail("batch dims " + batch_dims(a).str() + " and " + batch_dims(b).str() + " do not broadcast");
  if (c.has_input(2)) {
    const Dims& bias = c.dims(2);
    if (bias.rank() != 1 || bias[0] != n)
      c.fail("bias must be 1-D [N] = [" + std::to_string(n) + "] (N, the output's last dim), not " + bias.str());
    if (c.dtype(2) != t)
      c.fail(std::string("bias must have the output's dtype (") + to_string(t) + "), not " + to_string(c.dtype(2)));
  }
  std::vector<int64_t> out = batch.vec();
  out.push_back(m);
  out.push_back(n);
  if (c.has_input(3)) {  // y = act(a b + bias + residual)
    if (c.dims(3) != Dims(out))
      c.fail("residual must have the output's shape " + Dims(out).str() + ", not " + c.dims(3).str());
    if (c.dtype(3) != t || !is_floating(t))
      c.fail(std::string("residual must have the output's floating-point dtype (") + to_string(t) + "), not " +
             to_string(c.dtype(3)));
  }
  const std::string& act = c.get_string("activation");
  if (act != "none" && act != "relu" && act != "gelu" && act != "gelu_tanh")
    c.fail("activation must be \"none\", \"relu\", \"gelu\" (erf form) or \"gelu_tanh\", not \"" + act + "\"");
  if ((act == "gelu" || act == "gelu_tanh") && !is_floating(t))
    c.fail("activation \"" + act + "\" needs floating-point operands, not " + to_string(t));
  c.set_output(0, t, Dims(out));
}

// The operand attention reads in slot i: its input, or the view of it the layer's attribute names.
Dims attention_dims(InferContext& c, int slot) {
  const std::string bad = check_attention_view(c.layer(), slot, c.dims(slot));
  if (!bad.empty()) c.fail(bad);
  return attention_operand(c.layer(), slot, c.dims(slot)).dims;
}

void infer_attention(InferContext& c) {
  bool causal = flag_attr(c, "causal");
  const Dims q = attention_dims(c, 0), k = attention_dims(c, 1), v = attention_dims(c, 2);
  DataType t = c.dtype(0);
  if (!is_floating(t)) c.fail(std::string("attention needs floating-point inputs, not ") + to_string(t));
  if (c.dtype(1) != t || c.dtype(2) != t) c.fail("query, key and value must share a dtype");
  int r = q.rank();
  if (r < 2) c.fail("query needs rank >= 2 ([..., L, E])");
  if (k.rank() != r || v.rank() != r) c.fail("query, key and value must have the same rank");
  int64_t e = q[r - 1], s = k[r - 2], ev = v[r - 1];
  if (k[r - 1] != e)
    c.fail("key's last dim (" + std::to_string(k[r - 1]) + ") must equal query's (" + std::to_string(e) + ")");
  if (v[r - 2] != s)
    c.fail("value's sequence length (" + std::to_string(v[r - 2]) + ") must equal key's (" + std::to_string(s) + ")");
  for (int i = 0; i < r - 2; ++i) {
    if (k[i] != v[i]) c.fail("key and value batch dims differ at dim " + std::to_string(i));
    if (k[i] == q[i]) continue;
    // Grouped-query attention: key/value heads (dim -3) may divide query heads.
    if (i != r - 3 || k[i] == 0 || q[i] % k[i] != 0)
      c.fail("batch dim " + std::to_string(i) + " of key/value (" + std::to_string(k[i]) +
             ") must equal query's (" + std::to_string(q[i]) + ")" +
             (i == r - 3 ? " or divide it (grouped-query attention)" : ""));
  }
  std::vector<int64_t> outv = q.vec();
  outv[r - 1] = ev;
  if (c.has_input(3)) {
    if (causal) c.fail("a mask and causal=1 cannot be combined (as in PyTorch)");
    DataType mt = c.dtype(3);
    if (mt != DataType::kBool && mt != t)
      c.fail(std::string("mask must be bool or the query's dtype (") + to_string(t) + "), not " + to_string(mt));
    std::vector<int64_t> sv = q.vec();
    sv[r - 1] = s;
    Dims scores(sv), bc;
    if (!broadcast_shape(c.dims(3), scores, bc) || bc != scores)
      c.fail("mask " + c.dims(3).str() + " does not broadcast to the scores' shape " + scores.str());
  }
  const std::vector<int64_t>& perm = c.get_ints("out_perm");
  if (!perm.empty()) {
    std::vector<bool> seen(r, false);
    bool ok = static_cast<int>(perm.size()) == r && perm[r - 1] == r - 1;
    for (int64_t p : perm) {
      ok = ok && p >= 0 && p < r && !seen[p];
      if (ok) seen[p] = true;
    }
    if (!ok) c.fail("out_perm must be a permutation of the " + std::to_string(r) + " dims that keeps the last one last");
    std::vector<int64_t> permuted(r);
    for (int i = 0; i < r; ++i) permuted[i] = outv[perm[i]];
    outv = permuted;
  }
  c.set_output(0, t, Dims(outv));
}

}  // namespace

void add_matmul_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kMatMul,
                  {"a", "b", "bias", "residual"},
                  2,
                  false,
                  {{"transpose_a", AttrType::kInt, false, int64_t(0)},
                   {"transpose_b", AttrType::kInt, false, int64_t(0)},
                   {"activation", AttrType::kString, false, std::string("none")}},
                  nullptr,
                  infer_matmul});
  defs.push_back({LayerKind::kAttention,
                  {"query", "key", "value", "mask"},
                  3,
                  false,
                  {{"causal", AttrType::kInt, false, int64_t(0)},
                   {"scale", AttrType::kFloat, false, 0.0},
                   {"q_view", AttrType::kInts, false, std::vector<int64_t>{}},
                   {"k_view", AttrType::kInts, false, std::vector<int64_t>{}},
                   {"v_view", AttrType::kInts, false, std::vector<int64_t>{}},
                   {"out_perm", AttrType::kInts, false, std::vector<int64_t>{}}},
                  nullptr,
                  infer_attention});
}

}  // namespace tensorforge::ir
