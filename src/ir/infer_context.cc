// InferContext: typed access to a layer's inputs and attributes, and uniform error messages.
#include <sstream>

#include "ir/op_registry.h"

namespace tensorforge::ir {

InferContext::InferContext(const Graph& g, const Layer& layer) : g_(g), layer_(layer) {}

const Dims& InferContext::dims(int i) const { return g_.tensors[layer_.inputs[i]].dims; }
DataType InferContext::dtype(int i) const { return g_.tensors[layer_.inputs[i]].dtype; }

int64_t InferContext::get_int(const std::string& n) const { return attr_int(layer_, n); }
double InferContext::get_float(const std::string& n) const { return attr_float(layer_, n); }
const std::string& InferContext::get_string(const std::string& n) const { return attr_string(layer_, n); }
const std::vector<int64_t>& InferContext::get_ints(const std::string& n) const { return attr_ints(layer_, n); }
const std::vector<double>& InferContext::get_floats(const std::string& n) const { return attr_floats(layer_, n); }
const Weights& InferContext::get_weights(const std::string& n) const { return attr_weights(layer_, n); }

void InferContext::set_output(int i, DataType dtype, const Dims& dims) {
  if (i < 0 || i >= static_cast<int>(outputs.size()))
    throw Error(ErrorCode::kInternal, "layer '" + layer_.name + "': output index " + std::to_string(i) + " out of range");
  outputs[i] = {dtype, dims};
}

void InferContext::fail(const std::string& why) const {
  const OpDef& def = op_def(layer_.kind);
  std::ostringstream os;
  os << "layer '" << layer_.name << "' (" << to_string(layer_.kind) << "): " << why << "; inputs: ";
  for (int i = 0; i < nb_inputs(); ++i) {
    std::string slot = i < static_cast<int>(def.input_names.size()) ? def.input_names[i] : "input" + std::to_string(i);
    os << (i ? ", " : "") << slot << "=";
    if (has_input(i))
      os << to_string(dtype(i)) << dims(i).str();
    else
      os << "none";
  }
  if (nb_inputs() == 0) os << "none";
  throw Error(ErrorCode::kInvalidNetwork, os.str());
}

int InferContext::axis(int64_t a, int rank, const char* what) const {
  if (rank == 0) {  // a scalar takes axis 0 or -1, as in PyTorch
    if (a != 0 && a != -1) fail(std::string(what) + " " + std::to_string(a) + " is out of range for rank 0 (a scalar takes 0 or -1)");
    return 0;
  }
  int64_t r = rank;
  if (a < -r || a >= r) fail(std::string(what) + " " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
  return static_cast<int>(a < 0 ? a + r : a);
}

}  // namespace tensorforge::ir
