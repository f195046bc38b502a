// Choosing among the kernels that accept a layer by timing them (optimization_level 4 and 5): each
// candidate runs the layer on the same scratch inputs, its outputs are checked against the first
// candidate's, and the fastest that agrees is kept. At lower levels the first kernel of the
// registry that accepts the layer is kept untimed (its own choices among variants still timed).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel.h"

namespace tensorforge {

/// One kernel that accepted the layer, with what timing found.
struct TacticCandidate {
  const KernelEntry* entry = nullptr;
  std::unique_ptr<Kernel> kernel;
  double ms = -1;       ///< median milliseconds per call (-1: not timed)
  bool agrees = true;   ///< its outputs matched the first candidate's
  std::string failure;  ///< why it could not run on the scratch data ("": it ran)
};

/// Whether the builder times the kernels that accept a layer against each other.
bool times_tactics(const BuilderConfig& config);

/// Runs every candidate for layer `l` of `graph` on scratch inputs (constants hold their values,
/// floating-point inputs random values, booleans true, other integers zeros) on `config.device`: 3 rounds of
/// config.timing_iterations calls (5 when 0), each candidate's median round; on CUDA a round is one
/// replay of the calls captured as a graph, timed by the device (plain launches timed by the host
/// when a candidate cannot be captured, then for every candidate). Returns the index of
/// the fastest candidate whose outputs agree with the first's (within 1e-2 of the largest output
/// magnitude, 2e-2 for float16, 5e-2 for bfloat16; integers and booleans exactly); the first when
/// none else does. `summary` lists every candidate's tactic and time ("cuda.attention.cudnn
/// 0.012 ms, cuda.attention.flash 0.020 ms").
size_t choose_by_timing(const ir::Graph& graph, const ir::Layer& l, std::vector<TacticCandidate>& candidates,
                        const BuilderConfig& config, std::string& summary);

/// The kernel `chosen` with the builder's timing summary in front of its own choice().
std::unique_ptr<Kernel> with_tactic_summary(std::unique_ptr<Kernel> chosen, const std::string& summary);

}  // namespace tensorforge
