// The optimizer's golden tests' helpers: network text in, a pass, expected network text out (both
// normalized through the parser and printer, so attribute defaults and ordering need not be spelled
// out), and both graphs run on the CPU kernels with their outputs compared.
#pragma once

#include <string>
#include <vector>

#include "ir/parser.h"
#include "ir/printer.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

namespace tft {

/// `text` parsed and printed again: the printer's form of a network written by hand.
inline std::string normalized(const std::string& text) { return ir::to_text(ir::parse_text(text)); }

/// `g`'s outputs for `inputs`, by an engine of the CPU kernels built without the optimizer.
inline std::vector<HostTensor> run_graph(const ir::Graph& g, const std::vector<HostTensor>& inputs) {
  return run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), inputs);
}

/// Random values for each of `g`'s inputs (seeds 1, 2, ...).
inline std::vector<HostTensor> random_inputs(const ir::Graph& g) {
  std::vector<HostTensor> in;
  unsigned seed = 1;
  for (int id : g.inputs) in.push_back(random_tensor(g.tensors[id].dtype, g.tensors[id].dims, seed++));
  return in;
}

/// `pass` turns `before` into `after`, and both graphs compute the same outputs within `tol`.
inline void expect_golden(ir::Graph (*pass)(const ir::Graph&), const std::string& before, const std::string& after,
                          double tol = 1e-5) {
  ir::Graph g = ir::parse_text(before);
  ir::Graph out = pass(g);
  EXPECT_EQ(ir::to_text(out), normalized(after));
  std::vector<HostTensor> in = random_inputs(g);
  std::vector<HostTensor> want = run_graph(g, in), got = run_graph(out, in);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i].dims, want[i].values(), tol, "output");
}

}  // namespace tft
