// tensorforge._C: the nanobind bindings of the engine API. The Python package wraps these in
// documented classes (python/tensorforge/engine_api.py); this file only converts types.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <new>
#include <type_traits>

#include "ir/op_registry.h"
#include "ir/sym_expr.h"
#include "ir/pointwise_program.h"
#include "kernels/cpu/spatial.h"
#include "kernels/cuda/device_info.h"
#include "opt/pass.h"
#include "runtime/engine_impl.h"
#include "tensorforge/tensorforge.h"

namespace nb = nanobind;
using namespace tensorforge;

namespace {

// Sends the engine's messages to a Python callable (severity as int, message), which tensorforge
// routes into Python's logging. Any thread may log: the callable runs with the GIL taken here, so
// calls that create kernels (which log) release the GIL first. Never destroyed (threads may still
// be logging when the module goes away); exceptions in the callable are reported as unraisable.
class PythonLogger : public Logger {
 public:
  void log(Severity severity, const std::string& message) override {
    if (!Py_IsInitialized()) return;
    nb::gil_scoped_acquire gil;
    if (!callback_.is_valid() || callback_.is_none()) return;
    try {
      callback_(static_cast<int>(severity), message);
    } catch (nb::python_error& e) {
      e.discard_as_unraisable("tensorforge's log message handler");
    }
  }
  nb::object callback_;
};

PythonLogger* python_logger() {
  static PythonLogger* logger = new PythonLogger();
  return logger;
}

using AnyArray = nb::ndarray<>;        // any device; checked against the engine's; writable (outputs)
using InArray = nb::ndarray<nb::ro>;   // read-only arrays are accepted where only read (inputs, constants)
// An engine file's bytes in a host array (a saved program's engine buffer): read in place, not copied.
using FileArray = nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

template <class Array>
DataType dtype_of(const Array& a, const std::string& what) {
  auto d = a.dtype();
  using C = nb::dlpack::dtype_code;
  if (d.lanes == 1) {
    if (d.code == uint8_t(C::Float) && d.bits == 32) return DataType::kFloat32;
    if (d.code == uint8_t(C::Float) && d.bits == 16) return DataType::kFloat16;
    if (d.code == uint8_t(C::Bfloat) && d.bits == 16) return DataType::kBFloat16;
    if (d.code == uint8_t(C::Int) && d.bits == 8) return DataType::kInt8;
    if (d.code == uint8_t(C::Int) && d.bits == 32) return DataType::kInt32;
    if (d.code == uint8_t(C::Int) && d.bits == 64) return DataType::kInt64;
    if (d.code == uint8_t(C::Bool) && d.bits == 8) return DataType::kBool;
    if (d.code == uint8_t(C::UInt) && d.bits == 8) return DataType::kUInt8;
  }
  throw Error(ErrorCode::kInvalidArgument, what + ": unsupported element type (DLPack code " + std::to_string(d.code) +
                                               ", " + std::to_string(d.bits) + " bits); TensorForge takes float32, "
                                               "float16, bfloat16, int8, int32, int64, bool and uint8 (float8 "
                                               "data only as constants: Network.add_constant of a float8 tensor)");
}

template <class Array>
Dims dims_of(const Array& a) {
  std::vector<int64_t> d(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) d[i] = static_cast<int64_t>(a.shape(i));
  return Dims(d);
}

template <class Array>
bool is_contiguous(const Array& a) {
  for (size_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) == 0) return true;  // an empty array has no layout to check
  int64_t expect = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expect) return false;
    expect *= static_cast<int64_t>(a.shape(i));
  }
  return true;
}

Weights weights_of(const InArray& a, const std::string& what) {
  if (a.device_type() != nb::device::cpu::value)
    throw Error(ErrorCode::kInvalidArgument, what + ": constants are read from host memory; move the array to the CPU");
  if (!is_contiguous(a)) throw Error(ErrorCode::kInvalidArgument, what + ": the array must be contiguous");
  return Weights(dtype_of(a, what), dims_of(a), a.data());
}

// One number of an attribute: Python ints beyond int64 and numbers beyond double are refused here,
// where they are parsed, with the attribute's name.
template <class T>
T number_of(const std::string& name, nb::handle v) {
  T r{};
  if (!nb::try_cast(v, r, !std::is_integral_v<T>)) {  // no float-to-int conversion
    PyErr_Clear();
    throw Error(ErrorCode::kInvalidArgument, "attribute '" + name + "': " + nb::cast<std::string>(nb::repr(v)).substr(0, 60) +
                                                 (std::is_integral_v<T> ? " is outside the 64-bit integer range"
                                                                        : " is not representable as a double"));
  }
  return r;
}

AttrValue attr_of(const std::string& name, nb::handle v) {
  if (nb::isinstance<nb::bool_>(v)) return int64_t(nb::cast<bool>(v));
  if (nb::isinstance<nb::int_>(v)) return number_of<int64_t>(name, v);
  if (nb::isinstance<nb::float_>(v)) return number_of<double>(name, v);
  if (nb::isinstance<nb::str>(v)) return nb::cast<std::string>(v);
  if (nb::isinstance<nb::list>(v) || nb::isinstance<nb::tuple>(v)) {
    bool all_int = true;
    for (nb::handle e : v) all_int &= nb::isinstance<nb::int_>(e) || nb::isinstance<nb::bool_>(e);
    if (all_int) {
      std::vector<int64_t> r;
      for (nb::handle e : v) r.push_back(number_of<int64_t>(name, e));
      return r;
    }
    std::vector<double> r;
    for (nb::handle e : v) {
      if (!nb::isinstance<nb::int_>(e) && !nb::isinstance<nb::float_>(e))
        throw Error(ErrorCode::kInvalidArgument, "attribute '" + name + "': lists may hold only numbers");
      r.push_back(number_of<double>(name, e));
    }
    return r;
  }
  InArray arr;
  if (nb::try_cast(v, arr)) return weights_of(arr, "attribute '" + name + "'");
  throw Error(ErrorCode::kInvalidArgument, "attribute '" + name + "': unsupported value of type " +
                                               nb::cast<std::string>(nb::str(v.type())));
}

template <class Array>
void check_array(const Array& a, const IOTensorInfo& t, DeviceKind device) {
  std::string what = std::string(t.is_input ? "input" : "output") + " '" + t.name + "'";
  int want = device == DeviceKind::kCPU ? nb::device::cpu::value : nb::device::cuda::value;
  if (a.device_type() != want)
    throw Error(ErrorCode::kInvalidArgument, what + " must be in " + (device == DeviceKind::kCPU ? "host" : "CUDA") +
                                                 " memory for a " + to_string(device) + " engine");
  DataType dt = dtype_of(a, what);
  Dims d = dims_of(a);
  if (dt != t.dtype || d != t.dims)
    throw Error(ErrorCode::kInvalidArgument, what + " expects " + to_string(t.dtype) + t.dims.str() + ", got " +
                                                 to_string(dt) + d.str());
  if (!is_contiguous(a)) throw Error(ErrorCode::kInvalidArgument, what + " must be contiguous");
}

// Raises `type_name` (a class of tensorforge.errors) with `what` as its message. Messages can quote
// bytes from untrusted files, so invalid UTF-8 is escaped (\xNN), never decoded blindly.
void raise(const char* type_name, const char* what) {
  nb::object type = nb::module_::import_("tensorforge.errors").attr(type_name);
  PyObject* msg = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "backslashreplace");
  if (!msg) {
    PyErr_Clear();
    msg = PyUnicode_FromString("(unreadable message)");
  }
  PyErr_SetObject(type.ptr(), msg);
  Py_DECREF(msg);
}

void translate(const Error& e) {
  static const char* kNames[] = {"InvalidArgumentError", "InvalidNetworkError", "UnsupportedError",
                                 "CorruptFileError",     "EngineRuntimeError",  "InternalError"};
  raise(kNames[static_cast<int>(e.code())], e.what());
}

}  // namespace

// Both execute paths take exactly the engine's inputs then outputs.
void check_io_counts(const ExecutionContext& ctx, size_t inputs, size_t outputs) {
  const int ni = ctx.engine().nb_inputs(), no = ctx.engine().nb_outputs();
  if (static_cast<int>(inputs) != ni || static_cast<int>(outputs) != no)
    throw Error(ErrorCode::kInvalidArgument, "execute: the engine takes " + std::to_string(ni) + " inputs and " +
                                                 std::to_string(no) + " outputs, got " + std::to_string(inputs) +
                                                 " and " + std::to_string(outputs));
}

NB_MODULE(_C, m) {
  m.doc() = "TensorForge engine bindings (use the tensorforge package, not this module directly)";
  // Engines held by torch.compile's caches are still alive at interpreter exit; that is not a leak.
  nb::set_leak_warnings(false);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      translate(e);
    } catch (const nb::python_error&) {
      throw;  // a Python exception raised inside a call: nanobind restores it as it was
    } catch (const nb::builtin_exception&) {
      throw;
    } catch (const std::bad_alloc&) {
      raise("EngineRuntimeError", "out of host memory");
    } catch (const std::exception& e) {  // no other C++ exception should escape the engine
      raise("InternalError", (std::string("unexpected C++ exception: ") + e.what()).c_str());
    }
  });

  nb::enum_<DataType>(m, "DataType")
      .value("float32", DataType::kFloat32)
      .value("float16", DataType::kFloat16)
      .value("bfloat16", DataType::kBFloat16)
      .value("int8", DataType::kInt8)
      .value("int32", DataType::kInt32)
      .value("int64", DataType::kInt64)
      .value("bool", DataType::kBool)
      .value("uint8", DataType::kUInt8)
      .value("float8_e4m3fn", DataType::kFloat8E4M3);
  nb::enum_<DeviceKind>(m, "DeviceKind").value("cpu", DeviceKind::kCPU).value("cuda", DeviceKind::kCUDA);
  nb::enum_<Severity>(m, "Severity")
      .value("error", Severity::kError)
      .value("warning", Severity::kWarning)
      .value("info", Severity::kInfo)
      .value("verbose", Severity::kVerbose);

  m.def("version", [] { return std::string(version()); });
  m.def("set_log_level", &set_log_level);
  m.def("set_python_logger", [](nb::object callback) {
    PythonLogger* logger = python_logger();
    if (callback.is_none()) {
      set_logger(nullptr);  // stderr again; the callable stays until replaced (a thread may be in it)
      return;
    }
    logger->callback_ = std::move(callback);
    set_logger(logger);
  }, nb::arg("callback").none());
  m.def("log_level", &log_level);
  m.def("built_with_cuda", &cuda::built_with_cuda);
  m.def("built_with_onednn", &cpu::built_with_onednn);
  m.def("built_with_cudnn_attention", &cuda::built_with_cudnn_attention);
  m.def("optimizer_passes", [] {
    // (name, lowest optimization_level, devices, summary) per pass, in the order they run
    std::vector<std::tuple<std::string, int, std::string, std::string>> r;
    for (const opt::Pass& p : opt::pipeline()) {
      const std::string devices = p.devices == opt::kOnAll ? "all" : p.devices == opt::kOnCUDA ? "CUDA" : "CPU";
      r.emplace_back(p.name, p.min_level, devices, p.summary);
    }
    return r;
  });
  m.def("cuda_device_count", &cuda::device_count);
  m.def("warm_up_cuda_libraries", &cuda::warm_up_libraries, nb::call_guard<nb::gil_scoped_release>());
  m.def("layer_kinds", [] {
    std::vector<std::string> r;
    for (int i = 0; i < kNumLayerKinds; ++i) r.push_back(to_string(static_cast<LayerKind>(i)));
    return r;
  });

  // (input names, min inputs, variadic, [(attribute, type, required)]) of a layer kind, from the IR's
  // schema: the fuzzers and docs read it rather than restating it.
  m.def("layer_schema", [](const std::string& kind) {
    static const char* kTypes[] = {"int", "float", "string", "ints", "floats", "weights"};
    const ir::OpDef& d = ir::op_def(parse_layer_kind(kind));
    std::vector<std::tuple<std::string, std::string, bool>> attrs;
    for (const ir::AttrSpec& a : d.attrs) attrs.emplace_back(a.name, kTypes[static_cast<int>(a.type)], a.required);
    return std::make_tuple(d.input_names, d.min_inputs, d.variadic, attrs);
  });

  // A symbolic size's value (ir/sym_expr.h; docs/dynamic_shapes.md): the text form that
  // dynamo/conversion/sym_sizes.py writes, evaluated under `values`.
  m.def("evaluate_size", [](const std::string& text, const std::map<std::string, int64_t>& values) {
    return ir::SymExpr::parse(text).evaluate(values);
  });

  // The formula table's op names by kind (kernels/common/pointwise_formulas.h), for tests and fuzzers.
  m.def("pointwise_formulas", [] {
    std::vector<std::pair<std::string, std::vector<std::string>>> r;
    for (auto [kind, name] : {std::pair{ir::PwOp::kUnary, "unary"}, {ir::PwOp::kPredicate, "predicate"},
                              {ir::PwOp::kActivation, "activation"}, {ir::PwOp::kBinary, "binary"},
                              {ir::PwOp::kCompare, "compare"}})
      r.emplace_back(name, ir::pw_formula_names(kind));
    return r;
  });

  nb::class_<Tensor>(m, "Tensor")
      .def_prop_ro("name", &Tensor::name)
      .def_prop_ro("shape", [](const Tensor& t) { return t.dims().vec(); })
      .def_prop_ro("dtype", &Tensor::dtype)
      .def_prop_ro("id", &Tensor::id);

  nb::class_<Network>(m, "Network")
      .def(nb::init<>())
      .def("add_input",
           [](Network& n, const std::string& name, DataType t, const std::vector<int64_t>& shape) {
             return n.add_input(name, t, Dims(shape));
           })
      .def("add_size", &Network::add_size, nb::arg("name"), nb::arg("min"), nb::arg("opt"), nb::arg("max"))
      .def("add_dynamic_input",
           [](Network& n, const std::string& name, DataType t, const std::vector<nb::object>& dims) {
             std::vector<std::string> text;  // ints and size names alike
             for (const nb::object& d : dims) text.push_back(nb::cast<std::string>(nb::str(d)));
             return n.add_dynamic_input(name, t, text);
           })
      .def("specialize", &Network::specialize, nb::arg("values"))
      .def("mark_output", &Network::mark_output, nb::arg("tensor"), nb::arg("name") = "")
      .def("add_constant",
           [](Network& n, InArray a, const std::string& name, std::optional<DataType> bytes_as) {
             Weights w = weights_of(a, "add_constant");
             // float8 data crosses as its bytes (uint8): `bytes_as` names what they hold.
             if (bytes_as && *bytes_as != w.dtype()) {
               if (element_size(*bytes_as) != element_size(w.dtype()))
                 throw Error(ErrorCode::kInvalidArgument, std::string("add_constant: ") + to_string(w.dtype()) +
                                                              " bytes cannot hold " + to_string(*bytes_as));
               w = Weights(*bytes_as, w.dims(), w.data());
             }
             return n.add_constant(w, name);
           },
           nb::arg("array"), nb::arg("name") = "", nb::arg("bytes_as") = nb::none())
      .def("add_layer",
           [](Network& n, const std::string& kind, const std::vector<std::optional<Tensor>>& inputs, nb::dict attrs,
              const std::string& name, const std::map<std::string, std::vector<std::string>>& sizes) {
             std::vector<Tensor> in;
             for (const auto& t : inputs) in.push_back(t ? *t : Tensor());
             Attributes a;
             for (auto [k, v] : attrs) {
               std::string key = nb::cast<std::string>(k);
               a[key] = attr_of(key, v);
             }
             if (!sizes.empty()) return n.add_sized_layer(parse_layer_kind(kind), in, a, sizes, name);
             return n.add_layer(parse_layer_kind(kind), in, a, name);
           },
           nb::arg("kind"), nb::arg("inputs"), nb::arg("attrs"), nb::arg("name") = "",
           nb::arg("sizes") = std::map<std::string, std::vector<std::string>>{})
      .def_prop_ro("nb_layers", &Network::nb_layers)
      .def_prop_ro("nb_tensors", &Network::nb_tensors)
      .def_prop_ro("inputs", &Network::inputs)
      .def_prop_ro("outputs", &Network::outputs)
      .def("tensor", &Network::tensor)
      .def("validate", &Network::validate)
      .def("to_text", &Network::to_text);

  nb::class_<BuilderConfig>(m, "BuilderConfig")
      .def(nb::init<>())
      .def_rw("device", &BuilderConfig::device)
      .def_rw("optimization_level", &BuilderConfig::optimization_level)
      .def_rw("workspace_size", &BuilderConfig::workspace_size)
      .def_rw("allow_tf32", &BuilderConfig::allow_tf32)
      .def_rw("disabled_tactics", &BuilderConfig::disabled_tactics)
      .def_rw("timing_iterations", &BuilderConfig::timing_iterations)
      .def_rw("build_threads", &BuilderConfig::build_threads)
      .def_rw("timing_cache_dir", &BuilderConfig::timing_cache_dir)
      .def("validate", &BuilderConfig::validate);

  nb::class_<Builder>(m, "Builder")
      .def(nb::init<const BuilderConfig&>())
      .def_prop_ro("config", &Builder::config)
      .def("build", &Builder::build, nb::call_guard<nb::gil_scoped_release>())
      .def("build_dynamic", &Builder::build_dynamic, nb::arg("network"), nb::arg("max_plans") = 16,
           nb::call_guard<nb::gil_scoped_release>());

  nb::class_<DynamicEngine>(m, "DynamicEngine")
      .def(
          "plan",
          [](const DynamicEngine& d, const std::vector<std::vector<int64_t>>& shapes) {
            std::vector<Dims> dims;
            for (const auto& s : shapes) dims.emplace_back(s);
            nb::gil_scoped_release release;  // a new plan is a build
            return d.plan(dims);
          },
          nb::arg("shapes"))
      .def_prop_ro("plans_built", &DynamicEngine::plans_built)
      .def_prop_ro("plans_kept", &DynamicEngine::plans_kept)
      .def_prop_ro("max_plans", &DynamicEngine::max_plans)
      .def_prop_ro("weights_size", &DynamicEngine::weights_size)
      .def("serialize",
           [](const DynamicEngine& e) {
             std::vector<uint8_t> b = e.serialize();
             return nb::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           })
      // The argument keeps its buffer alive (and bytes and read-only arrays unchanged) without the GIL.
      .def_static("deserialize",
                  [](nb::bytes b) {
                    nb::gil_scoped_release release;  // builds the opt plan
                    return DynamicEngine::deserialize(b.c_str(), b.size());
                  })
      .def_static("deserialize",
                  [](const FileArray& a) {
                    nb::gil_scoped_release release;
                    return DynamicEngine::deserialize(a.data(), a.shape(0));
                  })
      .def("save", [](const DynamicEngine& e, nb::bytes path) { e.save(std::string(path.c_str(), path.size())); })
      .def_static("load",
                  [](nb::bytes path) { return DynamicEngine::load(std::string(path.c_str(), path.size())); },
                  nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("sizes", [](const DynamicEngine& d) {
        std::vector<std::tuple<std::string, int64_t, int64_t, int64_t>> out;
        for (const SizeInfo& s : d.sizes()) out.emplace_back(s.name, s.min, s.opt, s.max);
        return out;
      });

  nb::class_<IOTensorInfo>(m, "IOTensorInfo")
      .def_ro("name", &IOTensorInfo::name)
      .def_ro("dtype", &IOTensorInfo::dtype)
      .def_prop_ro("shape", [](const IOTensorInfo& t) { return t.dims.vec(); })
      .def_ro("is_input", &IOTensorInfo::is_input);

  nb::class_<Engine>(m, "Engine")
      .def_prop_ro("io_tensors", &Engine::io_tensors)
      .def_prop_ro("nb_inputs", &Engine::nb_inputs)
      .def_prop_ro("nb_outputs", &Engine::nb_outputs)
      .def_prop_ro("device", &Engine::device)
      .def_prop_ro("optimization_level", &Engine::optimization_level)
      .def_prop_ro("arena_size", &Engine::arena_size)
      .def_prop_ro("weights_size", &Engine::weights_size)
      .def_prop_ro("compute_capability", &Engine::compute_capability)
      .def_prop_ro("library_versions", &Engine::library_versions)
      .def_prop_ro("nb_layers", &Engine::nb_layers)
      .def_prop_ro("build_times", &Engine::build_times)
      .def("inspect", &Engine::inspect)
      .def("inspect_json", &Engine::inspect_json)
      .def("layers",
           [](const Engine& e) {
             // (name, kind, tactic) per layer, for reports
             std::vector<std::tuple<std::string, std::string, std::string>> r;
             const auto& g = e.impl().graph;
             for (size_t i = 0; i < g.layers.size(); ++i)
               r.emplace_back(g.layers[i].name, to_string(g.layers[i].kind), e.impl().tactics[i]);
             return r;
           })
      .def("network_text", &Engine::network_text)
      .def("create_execution_context", &Engine::create_execution_context)
      .def("serialize",
           [](const Engine& e) {
             std::vector<uint8_t> b = e.serialize();
             return nb::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           })
      .def_static("deserialize",
                  [](nb::bytes b) {
                    nb::gil_scoped_release release;  // kernels are created (and log) here
                    return Engine::deserialize(b.c_str(), b.size());
                  })
      .def_static("deserialize",
                  [](const FileArray& a) {
                    nb::gil_scoped_release release;
                    return Engine::deserialize(a.data(), a.shape(0));
                  })
      // Paths arrive as the bytes os.fsencode() gives, so any file name works; NUL bytes are refused
      // in C++ (Engine::save/load), not cut off.
      .def("save", [](const Engine& e, nb::bytes path) { e.save(std::string(path.c_str(), path.size())); })
      .def_static("load", [](nb::bytes path) { return Engine::load(std::string(path.c_str(), path.size())); },
                  nb::call_guard<nb::gil_scoped_release>());

  nb::class_<ExecutionContext>(m, "ExecutionContext")
      .def_prop_ro("engine", &ExecutionContext::engine)
      .def("execute_arrays",
           [](ExecutionContext& ctx, const std::vector<InArray>& inputs, const std::vector<AnyArray>& outputs) {
             const auto& io = ctx.engine().io_tensors();
             check_io_counts(ctx, inputs.size(), outputs.size());
             const int ni = ctx.engine().nb_inputs(), no = ctx.engine().nb_outputs();
             std::vector<void*> bindings;
             for (int i = 0; i < ni; ++i) {
               check_array(inputs[i], io[i], ctx.engine().device());
               bindings.push_back(const_cast<void*>(inputs[i].data()));  // engines never write inputs
             }
             for (int i = 0; i < no; ++i) {
               check_array(outputs[i], io[ni + i], ctx.engine().device());
               bindings.push_back(outputs[i].data());
             }
             nb::gil_scoped_release release;
             ctx.execute(bindings);
           },
           nb::arg("inputs"), nb::arg("outputs"))
      // The torch.compile runtime's call: device addresses of buffers whose device, dtype, shape
      // and contiguity the caller has checked (EngineModule does), so no array conversion per
      // tensor (DLPack costs microseconds each; GPT-2 has 26 inputs and outputs).
      .def("execute_addresses",
           [](ExecutionContext& ctx, const std::vector<uintptr_t>& inputs, const std::vector<uintptr_t>& outputs) {
             check_io_counts(ctx, inputs.size(), outputs.size());
             std::vector<void*> bindings;
             bindings.reserve(inputs.size() + outputs.size());
             for (uintptr_t a : inputs) bindings.push_back(reinterpret_cast<void*>(a));
             for (uintptr_t a : outputs) bindings.push_back(reinterpret_cast<void*>(a));
             nb::gil_scoped_release release;
             ctx.execute(bindings);
           },
           nb::arg("inputs"), nb::arg("outputs"))
      .def("set_tensor_address",
           [](ExecutionContext& ctx, const std::string& name, uintptr_t ptr) {
             ctx.set_tensor_address(name, reinterpret_cast<void*>(ptr));
           })
      .def("execute", [](ExecutionContext& ctx) { ctx.execute(); }, nb::call_guard<nb::gil_scoped_release>())
      .def("set_profiling", &ExecutionContext::set_profiling)
      .def("set_cuda_graphs", &ExecutionContext::set_cuda_graphs)
      .def_prop_ro("cuda_graph_replays", &ExecutionContext::cuda_graph_replays)
      .def_prop_ro("direct_graphs", &ExecutionContext::direct_graphs)
      .def("set_stream", [](ExecutionContext& ctx, uintptr_t stream) { ctx.set_stream(reinterpret_cast<void*>(stream)); })
      .def("layer_times_ms", &ExecutionContext::layer_times_ms)
      .def_prop_ro("profiled_runs", &ExecutionContext::profiled_runs)
      .def("reset_profile", &ExecutionContext::reset_profile);
}
