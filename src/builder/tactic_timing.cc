// Timing the kernels that accept a layer against each other (see tactic_timing.h).
#include "builder/tactic_timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "common/element.h"
#include "common/half.h"
#include "runtime/device.h"

namespace tensorforge {

namespace {

// Every element of a tensor as a double.
std::vector<double> values(DataType t, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = element_as_double(t, bytes.data(), i);
  return v;
}

bool is_float(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

double tolerance(DataType t) { return t == DataType::kBFloat16 ? 5e-2 : t == DataType::kFloat16 ? 2e-2 : 1e-2; }

// Random normal values in `t` (floats); booleans true (an attention mask that lets every key
// through, so no kernel skips masked work); other integers zero (valid indices and counts).
std::vector<uint8_t> scratch_bytes(DataType t, int64_t n, uint32_t seed) {
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * element_size(t), t == DataType::kBool ? 1 : 0);
  if (!is_float(t)) return bytes;
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float f = dist(gen);
    if (t == DataType::kFloat32) {
      std::memcpy(bytes.data() + i * 4, &f, 4);
    } else if (t == DataType::kFloat16) {
      const half_t h = to_half(f);
      std::memcpy(bytes.data() + i * 2, &h.bits, 2);
    } else {
      const bfloat16_t b = to_bfloat16(f);
      std::memcpy(bytes.data() + i * 2, &b.bits, 2);
    }
  }
  return bytes;
}

class Summarized : public Kernel {
 public:
  Summarized(std::unique_ptr<Kernel> k, std::string summary) : k_(std::move(k)), summary_(std::move(summary)) {}
  void run(const TensorView* in, const TensorView* out, void* ws) const override { k_->run(in, out, ws); }
  size_t workspace_size() const override { return k_->workspace_size(); }
  std::string choice() const override {
    const std::string own = k_->choice();
    return "kernels timed: " + summary_ + (own.empty() ? "" : "; " + own);
  }

 private:
  std::unique_ptr<Kernel> k_;
  std::string summary_;
};

}  // namespace

bool times_tactics(const BuilderConfig& config) { return config.optimization_level >= 4; }

size_t choose_by_timing(const ir::Graph& graph, const ir::Layer& l, std::vector<TacticCandidate>& candidates,
                        const BuilderConfig& config, std::string& summary) {
  const DeviceKind dev = config.device;
  // Inputs: a constant's own bytes, scratch data for the rest.
  std::vector<device::Buffer> in_buf;
  std::vector<TensorView> in_view;
  uint32_t seed = 1;
  for (int id : l.inputs) {
    if (id < 0) {
      in_buf.emplace_back(dev, 0);
      in_view.push_back(TensorView{});
      continue;
    }
    const ir::TensorDesc& t = graph.tensors[id];
    const int64_t n = t.dims.volume();
    const size_t bytes = static_cast<size_t>(n) * element_size(t.dtype);
    in_buf.emplace_back(dev, bytes);
    const int producer = t.producer;
    if (producer >= 0 && graph.layers[producer].kind == LayerKind::kConstant) {
      device::upload(dev, in_buf.back().data(), ir::attr_weights(graph.layers[producer], "value").data(), bytes);
    } else {
      const std::vector<uint8_t> data = scratch_bytes(t.dtype, n, seed++);
      device::upload(dev, in_buf.back().data(), data.data(), bytes);
    }
    in_view.push_back(TensorView{in_buf.back().data(), t.dtype, t.dims});
  }
  std::vector<device::Buffer> out_buf;
  std::vector<TensorView> out_view;
  for (int id : l.outputs) {
    const ir::TensorDesc& t = graph.tensors[id];
    out_buf.emplace_back(dev, static_cast<size_t>(t.dims.volume()) * element_size(t.dtype));
    out_view.push_back(TensorView{out_buf.back().data(), t.dtype, t.dims});
  }
  auto outputs = [&] {
    std::vector<std::vector<double>> r;
    for (size_t k = 0; k < l.outputs.size(); ++k) {
      const ir::TensorDesc& t = graph.tensors[l.outputs[k]];
      std::vector<uint8_t> host(static_cast<size_t>(t.dims.volume()) * element_size(t.dtype));
      device::download(dev, host.data(), out_buf[k].data(), host.size());
      r.push_back(values(t.dtype, host, t.dims.volume()));
    }
    return r;
  };

  const int calls = config.timing_iterations > 0 ? config.timing_iterations : 5;
  std::vector<std::vector<double>> reference;
  // Each candidate's workspace and, on CUDA, its `calls` calls captured as one graph: the candidates
  // are timed by the device (timing events around a replay), as the engine replays them, not by
  // the host's launches (a cuDNN graph's launch takes longer on the host than a small attention
  // takes on the device). If any candidate cannot be captured, all are timed by plain launches.
  std::vector<device::Buffer> workspaces(candidates.size());
  std::vector<device::Graph> graphs(candidates.size());
  bool graphed = dev == DeviceKind::kCUDA;
  for (size_t c = 0; c < candidates.size(); ++c) {
    TacticCandidate& cand = candidates[c];
    try {
      workspaces[c] = device::Buffer(dev, cand.kernel->workspace_size());
      auto run = [&] { cand.kernel->run(in_view.data(), out_view.data(), workspaces[c].data()); };
      run();  // warm-up, and the outputs compared below
      device::synchronize(dev);
      std::vector<std::vector<double>> got = outputs();
      if (c == 0) {
        reference = std::move(got);
      } else {
        for (size_t k = 0; k < got.size() && cand.agrees; ++k) {
          const DataType t = graph.tensors[l.outputs[k]].dtype;
          double largest = 1.0, worst = 0.0;
          bool exact = true;
          for (size_t i = 0; i < got[k].size(); ++i) {
            const double a = reference[k][i], b = got[k][i];
            if (std::isnan(a) || std::isnan(b)) {
              exact = exact && std::isnan(a) && std::isnan(b);
              continue;
            }
            largest = std::max(largest, std::fabs(a));
            worst = std::max(worst, std::fabs(a - b));
          }
          cand.agrees = exact && (is_float(t) ? worst <= tolerance(t) * largest : worst == 0.0);
        }
      }
      if (graphed) {
        try {
          graphs[c].capture([&] {
            for (int i = 0; i < calls; ++i) run();
          });
        } catch (const Error&) {
          graphed = false;
        }
      }
    } catch (const std::exception& e) {
      cand.failure = e.what();
      cand.agrees = false;
      if (c == 0) break;  // no reference: the first stays, untimed against the others
    }
  }
  for (size_t c = 0; c < candidates.size(); ++c) {
    TacticCandidate& cand = candidates[c];
    if (!cand.failure.empty() || !candidates[0].failure.empty()) continue;
    try {
      double rounds[3];
      for (double& r : rounds) {
        if (graphed) {
          r = graphs[c].time_ms(1) / calls;
          continue;
        }
        device::synchronize(dev);
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) cand.kernel->run(in_view.data(), out_view.data(), workspaces[c].data());
        device::synchronize(dev);
        r = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / calls;
      }
      std::sort(rounds, rounds + 3);
      cand.ms = rounds[1];
    } catch (const std::exception& e) {
      cand.failure = e.what();
      cand.agrees = false;
    }
  }
  size_t best = 0;
  for (size_t c = 1; c < candidates.size(); ++c)
    if (candidates[c].agrees && candidates[c].ms >= 0 && candidates[0].ms >= 0 && candidates[c].ms < candidates[best].ms)
      best = c;
  std::ostringstream os;
  for (size_t c = 0; c < candidates.size(); ++c) {
    os << (c ? ", " : "") << candidates[c].entry->tactic << " ";
    if (!candidates[c].failure.empty())
      os << "(failed on the timing data)";
    else if (candidates[c].ms < 0)
      os << "(not timed)";
    else
      os << candidates[c].ms << " ms" << (candidates[c].agrees ? "" : " (disagrees with the first; not used)");
  }
  summary = os.str();
  return best;
}

std::unique_ptr<Kernel> with_tactic_summary(std::unique_ptr<Kernel> chosen, const std::string& summary) {
  return std::make_unique<Summarized>(std::move(chosen), summary);
}

}  // namespace tensorforge
