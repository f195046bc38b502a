// CUDA elementwise binary kernel with numpy broadcasting: one instantiation per (dtype, op), a
// grid-stride loop over the output; floats use the formulas of kernels/common/pointwise_formulas.h.
// Integer division by zero gives an unspecified value on CUDA
// (as in PyTorch on CUDA) instead of the CPU engine's runtime error: devices cannot raise.
#include <utility>

#include "kernels/common/pointwise_formulas.h"
#include "kernels/cuda/pointwise.cuh"

namespace tensorforge::cuda {

namespace {

template <class T, class Out, class F>
__global__ void binary_kernel(const T* a, const T* b, Out* o, int64_t n, Broadcast bc, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    o[i] = store_as<Out>(f(load(a, bc.offset(0, i)), load(b, bc.offset(1, i))));
}

// Each operand is the whole output shape, a single value, a block the output repeats (its shape
// is the output's trailing dims: element i reads i % period), or stretched: its rows of `inner`
// elements each serve `mid` consecutive rows of the output (a [N, 1, 1, C] scale of a channels-last
// [N, H, W, C] tensor: inner C, mid H * W). 16 bytes per thread and step; the last n % N elements one
// by one.
struct Flat {
  int64_t period[2];  // elements before the operand repeats: n (whole), 1 (single value), or its size
  int64_t inner[2], mid[2];  // stretched when mid > 1 (inner a multiple of the pack width)
  __host__ __device__ __forceinline__ int64_t at(int k, int64_t i) const {
    return mid[k] > 1 ? (i / (inner[k] * mid[k])) * inner[k] + i % inner[k] : i % period[k];
  }
};

template <class T, class Out, class F>
__global__ void binary_vec_kernel(const T* a, const T* b, Out* o, int64_t n, Flat fl, F f) {
  constexpr int N = vec_width<T>();
  using C = compute_t<T>;
  int64_t nvec = n / N, stride = int64_t(gridDim.x) * blockDim.x;
  int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  bool scalar_a = fl.period[0] == 1, scalar_b = fl.period[1] == 1;
  C sa = scalar_a ? load(a, 0) : C(0), sb = scalar_b ? load(b, 0) : C(0);
  int64_t va = fl.period[0] / N, vb = fl.period[1] / N;  // periods in packs (multiples of N when not 1)
  for (int64_t i = first; i < nvec; i += stride) {
    Pack<T, N> pa, pb;
    if (!scalar_a) pa = reinterpret_cast<const Pack<T, N>*>(a)[fl.mid[0] > 1 ? fl.at(0, i * N) / N : va == nvec ? i : i % va];
    if (!scalar_b) pb = reinterpret_cast<const Pack<T, N>*>(b)[fl.mid[1] > 1 ? fl.at(1, i * N) / N : vb == nvec ? i : i % vb];
    Pack<Out, N> r;
#pragma unroll
    for (int k = 0; k < N; ++k)
      r.v[k] = store_as<Out>(f(scalar_a ? sa : load(pa.v, k), scalar_b ? sb : load(pb.v, k)));
    reinterpret_cast<Pack<Out, N>*>(o)[i] = r;
  }
  for (int64_t i = nvec * N + first; i < n; i += stride) o[i] = store_as<Out>(f(load(a, fl.at(0, i)), load(b, fl.at(1, i))));
}

// When `in` (aligned right to `out`) is [outer..., 1..., inner...] against `out`'s [outer...,
// mid..., inner...], with mid and inner each at least one dim: its inner and mid volumes; else {0, 0}.
std::pair<int64_t, int64_t> stretch(const Dims& in, const Dims& out) {
  const int lead = out.rank() - in.rank();
  auto ext = [&](int d) { return d < lead ? int64_t(1) : in[d - lead]; };
  int d = out.rank() - 1;
  int64_t inner = 1, mid = 1;
  for (; d >= 0 && ext(d) == out[d] && out[d] != 1; --d) inner *= out[d];
  for (; d >= 0 && ext(d) == 1; --d) mid *= out[d];
  for (; d >= 0; --d)
    if (ext(d) != out[d]) return {0, 0};
  return inner > 1 && mid > 1 ? std::make_pair(inner, mid) : std::make_pair(int64_t(0), int64_t(0));
}

// The operand's period when it is the output's trailing block (leading 1s aside), else 0.
int64_t repeat_period(const Dims& in, const Dims& out) {
  int lead = in.rank();
  while (lead > 0 && in[in.rank() - lead] == 1) --lead;  // lead = rank without the leading 1s
  if (lead > out.rank()) return 0;
  for (int k = 0; k < lead; ++k)
    if (in[in.rank() - 1 - k] != out[out.rank() - 1 - k]) return 0;
  return in.volume();
}

template <class T, class Out, class F>
class BinaryKernel : public Kernel {
 public:
  BinaryKernel(const KernelSpec& s, F f) : f_(f) {
    const Dims& out = s.outputs[0]->dims;
    Dims in[2] = {s.inputs[0]->dims, s.inputs[1]->dims};
    bc_ = make_broadcast(out, in, 2);
    n_ = out.volume();
    vec_ = vec_width<T>() > 1;
    for (int k = 0; k < 2; ++k) {
      int64_t period = bc_.contiguous[k] ? n_ : repeat_period(in[k], out);
      flat_.inner[k] = flat_.mid[k] = 0;
      if (period == 0) {
        const auto [inner, mid] = stretch(in[k], out);
        flat_.inner[k] = inner, flat_.mid[k] = mid;
        period = inner && inner % vec_width<T>() == 0 ? inner * mid : 0;  // any value > 1: a packed operand
      }
      if (period == 0 || (period != 1 && period != n_ && period % vec_width<T>() != 0)) vec_ = false;
      flat_.period[k] = period ? period : 1;
      pack_operand_[k] = period > 1;
    }
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (!n_) return;
    const T *a = in[0].as<T>(), *b = in[1].as<T>();
    Out* o = out[0].as<Out>();
    bool vec = vec_ && (!pack_operand_[0] || pack_aligned<T, T>(a)) && (!pack_operand_[1] || pack_aligned<T, T>(b)) &&
               pack_aligned<T, Out>(o);
    if (vec)
      binary_vec_kernel<<<blocks_for((n_ + vec_width<T>() - 1) / vec_width<T>()), kThreads, 0, stream()>>>(
          a, b, o, n_, flat_, f_);
    else
      binary_kernel<<<blocks_for(n_), kThreads, 0, stream()>>>(a, b, o, n_, bc_, f_);
    check_launch("launching elementwise");
  }

 private:
  F f_;
  Broadcast bc_;
  int64_t n_ = 0;
  Flat flat_{};
  bool vec_ = false;
  bool pack_operand_[2] = {false, false};
};

template <class T, class Out, class F>
std::unique_ptr<Kernel> make(const KernelSpec& s, F f) {
  return std::make_unique<BinaryKernel<T, Out, F>>(s, f);
}

template <class C>
__device__ __forceinline__ bool negative(C x) {
  if constexpr (std::is_signed_v<C> || std::is_floating_point_v<C>)
    return x < C(0);
  else
    return false;  // unsigned: never negative (and no pointless comparison)
}

struct Add { template <class C> __device__ C operator()(C a, C b) const { return C(a + b); } };
struct Sub { template <class C> __device__ C operator()(C a, C b) const { return C(a - b); } };
struct Mul { template <class C> __device__ C operator()(C a, C b) const { return C(a * b); } };
struct Min {
  template <class C> __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) if (a != a || b != b) return C(NAN);
    return a < b ? a : b;
  }
};
struct Max {
  template <class C> __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) if (a != a || b != b) return C(NAN);
    return a > b ? a : b;
  }
};
struct Div {
  template <class C> __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) return a / b;
    else return b == 0 ? C(0) : C(a / b);
  }
};
struct FloorDiv {
  template <class C> __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      return floorf(a / b);
    } else {
      if (b == 0) return C(0);
      C q = a / b;
      return C((a % b != 0 && (negative(a) != negative(b))) ? q - 1 : q);
    }
  }
};
struct Mod {
  template <class C> __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      C r = fmodf(a, b);
      return (r != 0 && (negative(r) != negative(b))) ? r + b : r;
    } else {
      if (b == 0) return C(0);
      C r = a % b;
      return C((r != 0 && (negative(r) != negative(b))) ? r + b : r);
    }
  }
};
struct Pow {
  template <class C> __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      return powf(a, b);
    } else {
      if (negative(b)) return a == C(1) ? C(1) : a == C(-1) ? ((b & 1) ? C(-1) : C(1)) : C(0);  // as PyTorch
      C r = 1;
      while (b) {
        if (b & 1) r *= a;
        a *= a;
        b >>= 1;
      }
      return r;
    }
  }
};
struct Eq { template <class C> __device__ bool operator()(C a, C b) const { return a == b; } };
struct Ne { template <class C> __device__ bool operator()(C a, C b) const { return a != b; } };
struct Lt { template <class C> __device__ bool operator()(C a, C b) const { return a < b; } };
struct Le { template <class C> __device__ bool operator()(C a, C b) const { return a <= b; } };
struct Gt { template <class C> __device__ bool operator()(C a, C b) const { return a > b; } };
struct Ge { template <class C> __device__ bool operator()(C a, C b) const { return a >= b; } };
struct And { template <class C> __device__ bool operator()(C a, C b) const { return a != C(0) && b != C(0); } };
struct Or { template <class C> __device__ bool operator()(C a, C b) const { return a != C(0) || b != C(0); } };
struct Xor { template <class C> __device__ bool operator()(C a, C b) const { return (a != C(0)) != (b != C(0)); } };

template <class T>
std::unique_ptr<Kernel> make_integer_typed(const KernelSpec& s, const std::string& op);

template <class T>
std::unique_ptr<Kernel> make_typed(const KernelSpec& s, const std::string& op) {
  if constexpr (is_float_v<T>) {  // floats: the shared formula table, in float (it has every op below)
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make<T, T>(s, [] __device__(float x, float y) -> float { return EXPR; });
    TF_FLOAT_BINARY_OPS(TF_CASE)
#undef TF_CASE
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make<T, bool>(s, [] __device__(float x, float y) -> bool { return EXPR; });
    TF_FLOAT_COMPARISON_OPS(TF_CASE)
#undef TF_CASE
    return nullptr;  // (the integer forms below are not compiled for floats: half the instantiations)
  } else {
    return make_integer_typed<T>(s, op);
  }
}

template <class T>
std::unique_ptr<Kernel> make_integer_typed(const KernelSpec& s, const std::string& op) {
  if constexpr (!std::is_same_v<T, bool>) {
    if (op == "add") return make<T, T>(s, Add{});
    if (op == "sub") return make<T, T>(s, Sub{});
    if (op == "mul") return make<T, T>(s, Mul{});
    if (op == "div") return make<T, T>(s, Div{});
    if (op == "floor_div") return make<T, T>(s, FloorDiv{});
    if (op == "mod") return make<T, T>(s, Mod{});
    if (op == "pow") return make<T, T>(s, Pow{});
    if (op == "min") return make<T, T>(s, Min{});
    if (op == "max") return make<T, T>(s, Max{});
  }
  if (op == "eq") return make<T, bool>(s, Eq{});
  if (op == "ne") return make<T, bool>(s, Ne{});
  if (op == "lt") return make<T, bool>(s, Lt{});
  if (op == "le") return make<T, bool>(s, Le{});
  if (op == "gt") return make<T, bool>(s, Gt{});
  if (op == "ge") return make<T, bool>(s, Ge{});
  if (op == "logical_and") return make<T, bool>(s, And{});
  if (op == "logical_or") return make<T, bool>(s, Or{});
  if (op == "logical_xor") return make<T, bool>(s, Xor{});
  return nullptr;
}

}  // namespace

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s) {
  const std::string& op = ir::attr_string(s.layer, "op");
  return dispatch(s.inputs[0]->dtype, [&](auto tag) { return make_typed<typename decltype(tag)::type>(s, op); });
}

}  // namespace tensorforge::cuda
