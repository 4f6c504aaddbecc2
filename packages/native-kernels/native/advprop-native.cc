// Native training kernels for @advprop/native-kernels: oneDNN convolutions (forward, data
// gradient, weight gradient; grouped/depthwise too) and a fused training-mode batch norm
// (forward and backward), called synchronously from tfjs kernels on the wasm and cpu backends.
//
// Every function takes Float32Array views (into the wasm heap or the cpu backend's arrays) and
// writes its outputs into views the caller allocated, so no tensor data is copied.
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Below this many elements a loop runs on the calling thread: waking the OpenMP team costs more.
constexpr int64_t kParallelMin = 1 << 15;

// f(start, end) over [0, n) in one contiguous chunk per OpenMP thread (whole 64-byte lines apart
// from the last), on the calling thread alone below kParallelMin elements.
template <typename F>
void parallel_chunks(int64_t n, F&& f) {
#pragma omp parallel if (n >= kParallelMin)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = ((n + threads - 1) / threads + 15) / 16 * 16;
    const int64_t start = std::min(n, t * chunk), end = std::min(n, start + chunk);
    if (start < end) f(start, end);
  }
}

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& cpu_stream() {
  static dnnl::stream s(cpu_engine());
  return s;
}

// ---------------------------------------------------------------------------------------------
// N-API helpers

struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

float* float_view(napi_env env, napi_value v, size_t expected, const char* what, size_t* length_out = nullptr) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed) throw JsError(std::string(what) + " must be a Float32Array");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset);
  if (type != napi_float32_array) throw JsError(std::string(what) + " must be a Float32Array");
  if (expected != SIZE_MAX && length != expected) {
    std::ostringstream s;
    s << what << " has " << length << " elements, expected " << expected;
    throw JsError(s.str());
  }
  if (length_out) *length_out = length;
  return static_cast<float*>(data);
}

bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

int64_t int_arg(napi_env env, napi_value v, const char* what) {
  int64_t out = 0;
  if (napi_get_value_int64(env, v, &out) != napi_ok) throw JsError(std::string(what) + " must be a number");
  return out;
}

double double_arg(napi_env env, napi_value v, const char* what) {
  double out = 0;
  if (napi_get_value_double(env, v, &out) != napi_ok) throw JsError(std::string(what) + " must be a number");
  return out;
}

// The first n arguments; from `required` on they may be left out (undefined).
std::vector<napi_value> args_of(napi_env env, napi_callback_info info, size_t n, size_t required = SIZE_MAX) {
  std::vector<napi_value> argv(n);
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr);
  const size_t needed = std::min(n, required);
  if (argc < needed) throw JsError("expected " + std::to_string(needed) + " arguments, got " + std::to_string(argc));
  return argv;
}

template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, "ADVPROP_NATIVE_ONEDNN", (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, "ADVPROP_NATIVE", e.what());
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Convolution geometry (NHWC activations; HWIO filters, or [KH, KW, C, M] for grouped/depthwise)

struct ConvGeometry {
  int64_t n, h, w, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;

  static ConvGeometry from(napi_env env, napi_value array) {
    bool is_array = false;
    napi_is_array(env, array, &is_array);
    if (!is_array) throw JsError("geometry must be an array of 18 integers");
    uint32_t len = 0;
    napi_get_array_length(env, array, &len);
    if (len != 18) throw JsError("geometry must have 18 entries, got " + std::to_string(len));
    int64_t v[18];
    for (uint32_t i = 0; i < 18; i++) {
      napi_value e;
      napi_get_element(env, array, i, &e);
      v[i] = int_arg(env, e, "geometry entry");
    }
    ConvGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]};
    if (g.groups < 1 || g.ci % g.groups != 0 || g.co % g.groups != 0) throw JsError("geometry: channels must divide into groups");
    return g;
  }

  std::string key() const {
    std::ostringstream s;
    s << n << ',' << h << ',' << w << ',' << ci << ',' << oh << ',' << ow << ',' << co << ',' << kh << ',' << kw << ',' << sh
      << ',' << sw << ',' << dh << ',' << dw << ',' << pt << ',' << pl << ',' << pb << ',' << pr << ',' << groups;
    return s.str();
  }
  size_t src_size() const { return size_t(n * h * w * ci); }
  size_t dst_size() const { return size_t(n * oh * ow * co); }
  size_t weights_size() const { return size_t(kh * kw * (ci / groups) * co); }

  memory::desc src_md() const { return memory::desc({n, ci, h, w}, dt::f32, tag::nhwc); }
  memory::desc dst_md() const { return memory::desc({n, co, oh, ow}, dt::f32, tag::nhwc); }
  memory::desc user_weights_md() const {
    if (groups == 1) return memory::desc({co, ci, kh, kw}, dt::f32, tag::hwio);
    return memory::desc({groups, co / groups, ci / groups, kh, kw}, dt::f32, tag::hwigo);
  }
  memory::desc any_weights_md() const {
    if (groups == 1) return memory::desc({co, ci, kh, kw}, dt::f32, tag::any);
    return memory::desc({groups, co / groups, ci / groups, kh, kw}, dt::f32, tag::any);
  }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }  // oneDNN counts extra gaps
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }

  dnnl::convolution_forward::primitive_desc forward_pd() const {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src_md(),
                                      any_weights_md(), dst_md(), strides(), dilates(), pad_l(), pad_r());
    return dnnl::convolution_forward::primitive_desc(d, user_scratchpad(), cpu_engine());
  }

  // Each primitive gets its own scratchpad: the library's shared per-thread scratchpad corrupted
  // the heap here (oneDNN 2.6, OpenMP, two threads, many geometries in one process).
  static dnnl::primitive_attr user_scratchpad() {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
  }
};

// Primitives are cached per geometry: creating one JITs code. The weights live in the layout the
// primitive prefers, reordered from HWIO per call (filters are small next to activations); the
// weight gradient is reordered the other way, back to HWIO.
template <typename Primitive>
struct ConvEntry {
  Primitive prim;
  memory scratchpad;
  bool reorder_weights = false;
  dnnl::reorder weights_reorder;  // user -> internal (forward, data gradient) or back (weight gradient)
  memory internal_weights;
  std::string impl;
};

template <typename Primitive, typename PrimitiveDesc>
std::unique_ptr<ConvEntry<Primitive>> make_entry(const PrimitiveDesc& pd, const memory::desc& internal_md, const ConvGeometry& g,
                                                 bool back_to_user) {
  auto e = std::make_unique<ConvEntry<Primitive>>();
  e->prim = Primitive(pd);
  e->scratchpad = memory(pd.scratchpad_desc(), cpu_engine());
  const memory::desc user_md = g.user_weights_md();
  e->reorder_weights = internal_md != user_md;
  if (e->reorder_weights) {
    e->internal_weights = memory(internal_md, cpu_engine());
    e->weights_reorder = back_to_user ? dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), internal_md, cpu_engine(), user_md))
                                      : dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), user_md, cpu_engine(), internal_md));
  }
  e->impl = pd.impl_info_str();
  return e;
}

using ForwardEntry = ConvEntry<dnnl::convolution_forward>;
using BackwardDataEntry = ConvEntry<dnnl::convolution_backward_data>;
using BackwardWeightsEntry = ConvEntry<dnnl::convolution_backward_weights>;

// One lock for the caches and the buffers their entries own: worker threads of one process share
// this addon (each loads it), and oneDNN already uses every core inside one call.
std::mutex conv_mutex;

template <typename Entry>
using ConvCache = std::unordered_map<std::string, std::unique_ptr<Entry>>;

template <typename Entry, typename Make>
Entry& cached(ConvCache<Entry>& cache, const ConvGeometry& g, Make&& make) {
  auto& slot = cache[g.key()];
  if (!slot) slot = make();
  return *slot;
}

ConvCache<ForwardEntry> forward_cache;
ConvCache<BackwardDataEntry> backward_data_cache;
ConvCache<BackwardWeightsEntry> backward_weights_cache;

ForwardEntry& forward_entry(const ConvGeometry& g) {
  return cached(forward_cache, g, [&] {
    auto pd = g.forward_pd();
    return make_entry<dnnl::convolution_forward>(pd, pd.weights_desc(), g, false);
  });
}

BackwardDataEntry& backward_data_entry(const ConvGeometry& g) {
  return cached(backward_data_cache, g, [&] {
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, g.src_md(), g.any_weights_md(), g.dst_md(),
                                            g.strides(), g.dilates(), g.pad_l(), g.pad_r());
    // The hint must outlive the primitive's creation: oneDNN keeps a pointer to it.
    const auto hint = g.forward_pd();
    dnnl::convolution_backward_data::primitive_desc pd(d, ConvGeometry::user_scratchpad(), cpu_engine(), hint);
    return make_entry<dnnl::convolution_backward_data>(pd, pd.weights_desc(), g, false);
  });
}

BackwardWeightsEntry& backward_weights_entry(const ConvGeometry& g) {
  return cached(backward_weights_cache, g, [&] {
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, g.src_md(), g.any_weights_md(),
                                               g.dst_md(), g.strides(), g.dilates(), g.pad_l(), g.pad_r());
    // The hint must outlive the primitive's creation: oneDNN keeps a pointer to it.
    const auto hint = g.forward_pd();
    dnnl::convolution_backward_weights::primitive_desc pd(d, ConvGeometry::user_scratchpad(), cpu_engine(), hint);
    // oneDNN 2.6's jit_1x1 weight gradient corrupted the heap here when run with two OpenMP threads
    // after other convolution primitives (reproduced outside tfjs; never alone): take the next one.
    while (std::string(pd.impl_info_str()).rfind("jit_1x1", 0) == 0 && pd.next_impl()) {
    }
    return make_entry<dnnl::convolution_backward_weights>(pd, pd.diff_weights_desc(), g, true);
  });
}

enum Activation { kLinear = 0, kRelu = 1, kRelu6 = 2 };

// convForward(x, w, y, geometry, bias | null, activation)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    std::lock_guard<std::mutex> lock(conv_mutex);
    auto a = args_of(env, info, 6);
    auto g = ConvGeometry::from(env, a[3]);
    float* x = float_view(env, a[0], g.src_size(), "x");
    float* w = float_view(env, a[1], g.weights_size(), "filter");
    float* y = float_view(env, a[2], g.dst_size(), "output");
    float* bias = is_nullish(env, a[4]) ? nullptr : float_view(env, a[4], size_t(g.co), "bias");
    int64_t activation = int_arg(env, a[5], "activation");
    auto& e = forward_entry(g);
    memory src(g.src_md(), cpu_engine(), x), dst(g.dst_md(), cpu_engine(), y);
    memory user_w(g.user_weights_md(), cpu_engine(), w);
    auto& s = cpu_stream();
    if (e.reorder_weights) e.weights_reorder.execute(s, user_w, e.internal_weights);
    e.prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.reorder_weights ? e.internal_weights : user_w}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
    s.wait();
    if (bias || activation != kLinear) {
      const int64_t rows = g.n * g.oh * g.ow, co = g.co;
#pragma omp parallel for schedule(static) if (rows * co >= kParallelMin)
      for (int64_t r = 0; r < rows; r++) {
        float* row = y + r * co;
        for (int64_t c = 0; c < co; c++) {
          float v = row[c] + (bias ? bias[c] : 0.f);
          if (activation == kRelu) v = v > 0.f ? v : 0.f;
          else if (activation == kRelu6) v = v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
          row[c] = v;
        }
      }
    }
    return nullptr;
  });
}

// convBackwardData(dy, w, dx, geometry)
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    std::lock_guard<std::mutex> lock(conv_mutex);
    auto a = args_of(env, info, 4);
    auto g = ConvGeometry::from(env, a[3]);
    float* dy = float_view(env, a[0], g.dst_size(), "dy");
    float* w = float_view(env, a[1], g.weights_size(), "filter");
    float* dx = float_view(env, a[2], g.src_size(), "dx");
    auto& e = backward_data_entry(g);
    memory diff_src(g.src_md(), cpu_engine(), dx), diff_dst(g.dst_md(), cpu_engine(), dy);
    memory user_w(g.user_weights_md(), cpu_engine(), w);
    auto& s = cpu_stream();
    if (e.reorder_weights) e.weights_reorder.execute(s, user_w, e.internal_weights);
    e.prim.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, e.reorder_weights ? e.internal_weights : user_w}, {DNNL_ARG_DIFF_SRC, diff_src}, {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
    s.wait();
    return nullptr;
  });
}

// convBackwardWeights(x, dy, dw, geometry)
napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    std::lock_guard<std::mutex> lock(conv_mutex);
    auto a = args_of(env, info, 4);
    auto g = ConvGeometry::from(env, a[3]);
    float* x = float_view(env, a[0], g.src_size(), "x");
    float* dy = float_view(env, a[1], g.dst_size(), "dy");
    float* dw = float_view(env, a[2], g.weights_size(), "filter gradient");
    auto& e = backward_weights_entry(g);
    memory src(g.src_md(), cpu_engine(), x), diff_dst(g.dst_md(), cpu_engine(), dy);
    memory user_dw(g.user_weights_md(), cpu_engine(), dw);
    auto& s = cpu_stream();
    e.prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_WEIGHTS, e.reorder_weights ? e.internal_weights : user_dw}, {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
    if (e.reorder_weights) e.weights_reorder.execute(s, e.internal_weights, user_dw);
    s.wait();
    return nullptr;
  });
}

// convImplementation(kind, geometry): which oneDNN implementation serves a geometry ("forward",
// "backward-data", "backward-weights"), for profiles and docs.
napi_value ConvImplementation(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    std::lock_guard<std::mutex> lock(conv_mutex);
    auto a = args_of(env, info, 2);
    char kind[32] = {0};
    size_t len = 0;
    napi_get_value_string_utf8(env, a[0], kind, sizeof kind, &len);
    auto g = ConvGeometry::from(env, a[1]);
    std::string impl;
    if (!std::strcmp(kind, "forward")) impl = forward_entry(g).impl;
    else if (!std::strcmp(kind, "backward-data")) impl = backward_data_entry(g).impl;
    else if (!std::strcmp(kind, "backward-weights")) impl = backward_weights_entry(g).impl;
    else throw JsError(std::string("unknown convolution kind ") + kind);
    napi_value out;
    napi_create_string_utf8(env, impl.c_str(), impl.size(), &out);
    return out;
  });
}

void relu_grad_range(const float* __restrict dy, const float* __restrict x, float* __restrict out, int64_t s, int64_t e);

// ---------------------------------------------------------------------------------------------
// Training-mode batch norm over the last axis of x viewed as [rows, C].

// Per-channel sums of f(row, c) with double accumulators: one partial vector per thread, added
// in thread order afterwards so the result does not depend on which thread finishes first.
template <typename F>
void channel_sums(int64_t rows, int64_t c, std::vector<double>& out, F&& f) {
  const size_t channels = static_cast<size_t>(c);
  const int threads = rows * c >= kParallelMin ? omp_get_max_threads() : 1;
  std::vector<double> partial(channels * size_t(threads), 0.0);
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
#pragma omp single
    used = omp_get_num_threads();
    double* local = partial.data() + channels * size_t(t);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) f(r, local);
  }
  out.assign(channels, 0.0);
  for (int t = 0; t < used; t++)
    for (size_t k = 0; k < channels; k++) out[k] += partial[channels * size_t(t) + k];
}

// y[row, c] = x[row, c] * scale[c] + shift[c]: batch norm once its per-channel factors are known.
void scale_and_shift(const float* x, int64_t rows, int64_t c, const float* scale, const float* shift, float* y) {
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * c;
    float* out = y + r * c;
    for (int64_t k = 0; k < c; k++) out[k] = in[k] * scale[k] + shift[k];
  }
}

// The same, then + residual (when given) and ReLU: what the batch norm, Add and Relu kernels
// compute one after the other, each operation rounded to float32 in the same order, in one pass.
void scale_shift_add_relu(const float* x, int64_t rows, int64_t c, const float* scale, const float* shift, const float* residual, float* y) {
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * c;
    float* out = y + r * c;
    if (residual) {
      const float* res = residual + r * c;
      for (int64_t k = 0; k < c; k++) {
        const float normalized = in[k] * scale[k] + shift[k];
        const float sum = normalized + res[k];
        out[k] = sum < 0.f ? 0.f : sum;
      }
    } else {
      for (int64_t k = 0; k < c; k++) {
        const float normalized = in[k] * scale[k] + shift[k];
        out[k] = normalized < 0.f ? 0.f : normalized;
      }
    }
  }
}

// batchNormForward(x, rows, C, gamma | null, beta | null, epsilon, y, mean, variance[, residual | null, relu]):
// with relu true, y = max(0, batch norm (+ residual)), NaN kept (the ReLU of tfjs' cpu backend).
napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 11, 9);
    const int64_t rows = int_arg(env, a[1], "rows"), c = int_arg(env, a[2], "channels");
    if (rows < 1 || c < 1) throw JsError("batch norm needs at least one row and one channel");
    const size_t size = size_t(rows * c);
    const float* x = float_view(env, a[0], size, "x");
    const float* gamma = is_nullish(env, a[3]) ? nullptr : float_view(env, a[3], size_t(c), "scale");
    const float* beta = is_nullish(env, a[4]) ? nullptr : float_view(env, a[4], size_t(c), "offset");
    const double epsilon = double_arg(env, a[5], "epsilon");
    float* y = float_view(env, a[6], size, "output");
    float* mean_out = float_view(env, a[7], size_t(c), "mean");
    float* var_out = float_view(env, a[8], size_t(c), "variance");
    const float* residual = is_nullish(env, a[9]) ? nullptr : float_view(env, a[9], size, "residual");
    bool relu = false;
    if (!is_nullish(env, a[10])) napi_get_value_bool(env, a[10], &relu);
    if (residual && !relu) throw JsError("a residual is only added before a ReLU");

    // One pass for both moments (sums in acc[0, C), squares in acc[C, 2C)), shifted by the first
    // row (a value of each channel's own range) and accumulated in double:
    // var = E[(x - s)^2] - (E[x - s])^2 loses about 1e-16 * (mean - s)^2 / var of the variance to
    // cancellation, far below float32 precision, where a pass for the mean and a second for the
    // squared deviations read x twice.
    const size_t channels = static_cast<size_t>(c);
    const float* shift_row = x;
    std::vector<double> moments;
    channel_sums(rows, c * 2, moments, [&](int64_t r, double* acc) {
      const float* row = x + r * c;
      for (int64_t k = 0; k < c; k++) {
        const double d = double(row[k]) - double(shift_row[k]);
        acc[k] += d;
        acc[c + k] += d * d;
      }
    });
    std::vector<float> mean(channels), scale(channels), shift(channels);
    for (int64_t k = 0; k < c; k++) {
      const double centred = moments[size_t(k)] / double(rows);
      mean[size_t(k)] = float(double(shift_row[k]) + centred);
      const double var = std::max(0.0, moments[size_t(c + k)] - centred * centred * double(rows)) / double(rows);
      const double inv = 1.0 / std::sqrt(var + epsilon);
      const double s = inv * (gamma ? gamma[k] : 1.f);
      scale[size_t(k)] = float(s);
      shift[size_t(k)] = float((beta ? beta[k] : 0.f) - double(mean[size_t(k)]) * s);
      mean_out[k] = mean[size_t(k)];
      var_out[k] = float(var);
    }
    if (relu) scale_shift_add_relu(x, rows, c, scale.data(), shift.data(), residual, y);
    else scale_and_shift(x, rows, c, scale.data(), shift.data(), y);
    return nullptr;
  });
}

// batchNormBackward(dy, x, rows, C, mean, variance, gamma | null, epsilon, dx, dgamma, dbeta[, y | null, dresidual | null])
// dx = gamma * invstd / M * (M * g - sum(g) - xhat * sum(g * xhat)), xhat = (x - mean) * invstd,
// with g = dy, or, given the output y of a batch norm followed by a ReLU (batchNormForward with
// relu), g = dy * (y > 0 ? 1 : 0) (NaN where y is NaN): the ReLU gradient, computed in the pass
// that reads dy for the sums, as the ReLU-gradient kernel computes it; g is also the residual's
// gradient, written to dresidual when given.
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 13, 11);
    const int64_t rows = int_arg(env, a[2], "rows"), c = int_arg(env, a[3], "channels");
    if (rows < 1 || c < 1) throw JsError("batch norm needs at least one row and one channel");
    const size_t size = size_t(rows * c);
    const float* dy = float_view(env, a[0], size, "dy");
    const float* x = float_view(env, a[1], size, "x");
    const float* mean = float_view(env, a[4], size_t(c), "mean");
    const float* var = float_view(env, a[5], size_t(c), "variance");
    const float* gamma = is_nullish(env, a[6]) ? nullptr : float_view(env, a[6], size_t(c), "scale");
    const double epsilon = double_arg(env, a[7], "epsilon");
    float* dx = float_view(env, a[8], size, "dx");
    float* dgamma = float_view(env, a[9], size_t(c), "scale gradient");
    float* dbeta = float_view(env, a[10], size_t(c), "offset gradient");
    const float* y = is_nullish(env, a[11]) ? nullptr : float_view(env, a[11], size, "y");
    float* dresidual = is_nullish(env, a[12]) ? nullptr : float_view(env, a[12], size, "residual gradient");
    if (dresidual && !y) throw JsError("a residual gradient needs the ReLU's output y");

    // Both per-channel sums in one pass over dy and x (acc[0, C) and acc[C, 2C)). Behind a ReLU,
    // the same pass masks dy into g (kept in dresidual, or in dx until the last pass overwrites it).
    float* masked = y ? (dresidual ? dresidual : dx) : nullptr;
    std::vector<double> sums;
    channel_sums(rows, c * 2, sums, [&](int64_t r, double* acc) {
      const float* g = dy + r * c;
      const float* in = x + r * c;
      if (masked) {
        float* m = masked + r * c;
        relu_grad_range(g, y + r * c, m, 0, c);
        g = m;
      }
      for (int64_t k = 0; k < c; k++) {
        acc[k] += g[k];
        acc[c + k] += double(g[k]) * (double(in[k]) - double(mean[k]));
      }
    });
    const float* grad = masked ? masked : dy;
    // dx = a * dy + b * (x - mean) + d, per channel
    const size_t channels = static_cast<size_t>(c);
    const double* sum_dy = sums.data();
    const double* sum_dy_xc = sums.data() + channels;
    std::vector<float> ca(channels), cb(channels), cd(channels);
    for (int64_t k = 0; k < c; k++) {
      const double inv = 1.0 / std::sqrt(double(var[k]) + epsilon);
      const double gm = gamma ? gamma[k] : 1.0;
      const double m = double(rows);
      dbeta[k] = float(sum_dy[size_t(k)]);
      dgamma[k] = float(sum_dy_xc[size_t(k)] * inv);
      ca[size_t(k)] = float(gm * inv);
      cb[size_t(k)] = float(-gm * inv * inv * inv * sum_dy_xc[size_t(k)] / m);
      cd[size_t(k)] = float(-gm * inv * sum_dy[size_t(k)] / m);
    }
    const float *pa = ca.data(), *pb = cb.data(), *pd = cd.data();
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
    for (int64_t r = 0; r < rows; r++) {
      const float* g = grad + r * c;
      const float* in = x + r * c;
      float* out = dx + r * c;
      for (int64_t k = 0; k < c; k++) out[k] = pa[k] * g[k] + pb[k] * (in[k] - mean[k]) + pd[k];
    }
    return nullptr;
  });
}

// batchNormInference(x, rows, C, mean, variance, scale | null, offset | null, epsilon, y):
// normalisation with given statistics (tfjs' FusedBatchNorm), y = (x - mean) / sqrt(var + eps) * scale + offset
// [, residual | null, relu]: with relu true, y = max(0, ... (+ residual)), as batchNormForward.
napi_value BatchNormInference(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 11, 9);
    const int64_t rows = int_arg(env, a[1], "rows"), c = int_arg(env, a[2], "channels");
    if (rows < 1 || c < 1) throw JsError("batch norm needs at least one row and one channel");
    const size_t size = size_t(rows * c);
    const float* x = float_view(env, a[0], size, "x");
    const float* mean = float_view(env, a[3], size_t(c), "mean");
    const float* var = float_view(env, a[4], size_t(c), "variance");
    const float* gamma = is_nullish(env, a[5]) ? nullptr : float_view(env, a[5], size_t(c), "scale");
    const float* beta = is_nullish(env, a[6]) ? nullptr : float_view(env, a[6], size_t(c), "offset");
    const double epsilon = double_arg(env, a[7], "epsilon");
    float* y = float_view(env, a[8], size, "output");
    const float* residual = is_nullish(env, a[9]) ? nullptr : float_view(env, a[9], size, "residual");
    bool relu = false;
    if (!is_nullish(env, a[10])) napi_get_value_bool(env, a[10], &relu);
    if (residual && !relu) throw JsError("a residual is only added before a ReLU");
    const size_t channels = static_cast<size_t>(c);
    std::vector<float> scale(channels), shift(channels);
    for (int64_t k = 0; k < c; k++) {
      const double s = (gamma ? gamma[k] : 1.0) / std::sqrt(double(var[k]) + epsilon);
      scale[size_t(k)] = float(s);
      shift[size_t(k)] = float((beta ? beta[k] : 0.0) - double(mean[k]) * s);
    }
    if (relu) scale_shift_add_relu(x, rows, c, scale.data(), shift.data(), residual, y);
    else scale_and_shift(x, rows, c, scale.data(), shift.data(), y);
    return nullptr;
  });
}

// channelSums(x, rows, C, out, scale): out[c] = scale * sum over rows of x[row, c] (tfjs' Sum and
// Mean over every axis but the last: batch-norm statistics and their gradients in NHWC).
napi_value ChannelSums(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 5);
    const int64_t rows = int_arg(env, a[1], "rows"), c = int_arg(env, a[2], "channels");
    if (rows < 1 || c < 1) throw JsError("a reduction needs at least one row and one channel");
    const float* x = float_view(env, a[0], size_t(rows * c), "x");
    float* out = float_view(env, a[3], size_t(c), "output");
    const double scale = double_arg(env, a[4], "scale");
    std::vector<double> sums;
    channel_sums(rows, c, sums, [&](int64_t r, double* acc) {
      const float* row = x + r * c;
      for (int64_t k = 0; k < c; k++) acc[k] += row[k];
    });
    for (int64_t k = 0; k < c; k++) out[k] = float(sums[size_t(k)] * scale);
    return nullptr;
  });
}

// ---------------------------------------------------------------------------------------------
// Elementwise kernels: Sub, Multiply and Add with one input repeating per channel, and the ReLU
// gradient in one pass, where they beat the wasm backend's (it broadcasts through an index loop;
// tfjs-core's ReLU gradient takes two kernels and a copy). Each output element is one IEEE
// float operation, as in tfjs's kernels, so results are bit-identical to theirs.
//
// From kParallelMin elements they split the pass over the OpenMP team (parallel_chunks): one pass
// over the largest activations here costs 0.3 to 0.6 ms on one thread, and the ResNet-20 AdvProp
// step measured about 2 % faster with the team than without (quiet machine, 2026-11-30,
// docs/performance.md). The passes are memory-bound, so more threads would not pay much more.

enum BinaryOp { kBinarySub = 1, kBinaryMul = 2, kBinaryAdd = 3, kBinaryMax = 4, kBinaryMin = 5 };

// JavaScript's Math.max / Math.min on float32, which tfjs' cpu backend uses: NaN if either input is
// NaN, +0 above -0. Selects without branches, so the loops vectorize.
inline float js_max(float u, float v) {
  float r = u > v ? u : v;
  r = u == v ? ((u == 0.f && std::signbit(u)) ? v : u) : r;
  return (u != u || v != v) ? std::numeric_limits<float>::quiet_NaN() : r;
}
inline float js_min(float u, float v) {
  float r = u < v ? u : v;
  r = u == v ? ((u == 0.f && !std::signbit(u)) ? v : u) : r;
  return (u != u || v != v) ? std::numeric_limits<float>::quiet_NaN() : r;
}

// One row of out = op(a, b) over restrict pointers (the output is always a fresh tensor).
template <typename Op>
void binary_row(const float* __restrict a, const float* __restrict b, float* __restrict out, int64_t n, Op op) {
  for (int64_t i = 0; i < n; i++) out[i] = op(a[i], b[i]);
}

// out[i] = op(a[i % na], b[i % nb]): one input has out's size, the other repeats with its own
// size as period (its shape is a suffix of out's: a per-channel factor, a bias), or has out's size
// too (one row).
template <typename Op>
void binary_apply(const float* a, int64_t na, const float* b, int64_t nb, float* out, int64_t n, Op op) {
  if (na == n && nb == n) {
    parallel_chunks(n, [&](int64_t s, int64_t e) { binary_row(a + s, b + s, out + s, e - s, op); });
    return;
  }
  const bool b_repeats = nb < n;
  const int64_t period = b_repeats ? nb : na, rows = n / period;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t base = r * period;
    if (b_repeats) binary_row(a + base, b, out + base, period, op);
    else binary_row(a, b + base, out + base, period, op);
  }
}

// elementwiseBinary(op, a, b, out): subtract, multiply, add, maximum or minimum, one input
// repeating or both of out's size (binary_apply).
napi_value ElementwiseBinary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto args = args_of(env, info, 4);
    const int64_t op = int_arg(env, args[0], "op");
    size_t na = 0, nb = 0, n = 0;
    const float* a = float_view(env, args[1], SIZE_MAX, "a", &na);
    const float* b = float_view(env, args[2], SIZE_MAX, "b", &nb);
    float* out = float_view(env, args[3], SIZE_MAX, "output", &n);
    const size_t small = std::min(na, nb);
    if (n == 0 || std::max(na, nb) != n || small < 2 || n % small != 0) {
      std::ostringstream s;
      s << "a (" << na << " elements) and b (" << nb << ") must be the output's size (" << n
        << ") and the output's size or a period of it from 2";
      throw JsError(s.str());
    }
    const int64_t sa = int64_t(na), sb = int64_t(nb), sn = int64_t(n);
    if (op == kBinarySub) binary_apply(a, sa, b, sb, out, sn, [](float u, float v) { return u - v; });
    else if (op == kBinaryMul) binary_apply(a, sa, b, sb, out, sn, [](float u, float v) { return u * v; });
    else if (op == kBinaryAdd) binary_apply(a, sa, b, sb, out, sn, [](float u, float v) { return u + v; });
    else if (op == kBinaryMax) binary_apply(a, sa, b, sb, out, sn, js_max);
    else if (op == kBinaryMin) binary_apply(a, sa, b, sb, out, sn, js_min);
    else throw JsError("unknown binary op " + std::to_string(op));
    return nullptr;
  });
}

// The ReLU gradient in one pass: dy * mask(x), mask = x > 0 ? 1 : 0 (NaN for NaN), the product
// tfjs-core's gradient forms with two kernels (step, multiply), so results are bit-identical.
void relu_grad_range(const float* __restrict dy, const float* __restrict x, float* __restrict out, int64_t s, int64_t e) {
  for (int64_t i = s; i < e; i++) {
    // Two flat selects: GCC vectorizes these, not a nested one (which became a branch that
    // mispredicts on activations' random signs, 20x slower).
    const float v = x[i];
    const float positive = v > 0.f ? 1.f : 0.f;
    out[i] = dy[i] * (v != v ? v : positive);
  }
}

// sign(x, out): -1 below zero, 1 above, 0 otherwise (zeros and NaN), as tfjs' cpu backend. The
// wasm backend's Sign took 2 ms per 393K elements (an attack's sign step); selects vectorize.
napi_value Sign(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 2);
    size_t n = 0;
    const float* __restrict x = float_view(env, a[0], SIZE_MAX, "x", &n);
    float* __restrict out = float_view(env, a[1], n, "output");
    parallel_chunks(int64_t(n), [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++) {
        const float v = x[i];
        out[i] = v < 0.f ? -1.f : (v > 0.f ? 1.f : 0.f);
      }
    });
    return nullptr;
  });
}

// reluMaskedScale(dy, y, inverseStd, scale | null, out): out = ((dy * mask(y)) * inverseStd[c]) * scale[c],
// mask as the ReLU gradient's: the x gradient of an inference-mode batch norm behind a ReLU, in
// the order the ReLU gradient and the two per-channel multiplies of the composite form round it.
napi_value ReluMaskedScale(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 5);
    size_t n = 0, c = 0;
    const float* dy = float_view(env, a[0], SIZE_MAX, "dy", &n);
    const float* y = float_view(env, a[1], n, "y");
    const float* inverse_std = float_view(env, a[2], SIZE_MAX, "inverse std", &c);
    const float* scale = is_nullish(env, a[3]) ? nullptr : float_view(env, a[3], c, "scale");
    float* out = float_view(env, a[4], n, "output");
    if (c == 0 || n % c != 0) throw JsError("inverse std must have one value per channel (the last axis), got " + std::to_string(c) + " for " + std::to_string(n) + " elements");
    const int64_t rows = int64_t(n / c), channels = int64_t(c);
#pragma omp parallel for schedule(static) if (int64_t(n) >= kParallelMin)
    for (int64_t r = 0; r < rows; r++) {
      const float* g = dy + r * channels;
      const float* v = y + r * channels;
      float* o = out + r * channels;
      relu_grad_range(g, v, o, 0, channels);
      for (int64_t k = 0; k < channels; k++) {
        const float normalized = o[k] * inverse_std[k];
        o[k] = scale ? normalized * scale[k] : normalized;
      }
    }
    return nullptr;
  });
}

// reluGrad(dy, x, out)
napi_value ReluGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 3);
    size_t n = 0;
    const float* dy = float_view(env, a[0], SIZE_MAX, "dy", &n);
    const float* x = float_view(env, a[1], n, "x");
    float* out = float_view(env, a[2], n, "output");
    parallel_chunks(int64_t(n), [&](int64_t s, int64_t e) { relu_grad_range(dy, x, out, s, e); });
    return nullptr;
  });
}

// ---------------------------------------------------------------------------------------------
// Parameter and state updates in one kernel each, with tfjs' roundings: every operation of the
// composite form (one tfjs kernel each) rounds to float32 here too, in the same order, so the
// results are bit-identical to it (the build turns off FMA contraction).

// movingAverage(average, value, decay, out): out = average - (average - value) * decay, the
// batch-norm moving-statistics update of tfjs-layers (Sub, Multiply, Sub).
napi_value MovingAverage(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 4);
    size_t n = 0;
    const float* __restrict average = float_view(env, a[0], SIZE_MAX, "average", &n);
    const float* __restrict value = float_view(env, a[1], n, "value");
    const float decay = float(double_arg(env, a[2], "decay"));
    float* __restrict out = float_view(env, a[3], n, "output");
    for (size_t i = 0; i < n; i++) {
      const float difference = average[i] - value[i];
      const float step = difference * decay;
      out[i] = average[i] - step;
    }
    return nullptr;
  });
}

// sgdUpdate(param, grad, velocity | null, lr, momentum, weightDecay, nesterov, paramOut, velocityOut | null):
// g = grad + param * weightDecay (when weightDecay > 0); v = velocity * momentum + g;
// u = nesterov ? g + v * momentum : v (u = g without a velocity); paramOut = param - u * lr.
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 9);
    size_t n = 0;
    const float* __restrict param = float_view(env, a[0], SIZE_MAX, "param", &n);
    const float* __restrict grad = float_view(env, a[1], n, "grad");
    const float* __restrict velocity = is_nullish(env, a[2]) ? nullptr : float_view(env, a[2], n, "velocity");
    const float lr = float(double_arg(env, a[3], "learning rate"));
    const float momentum = float(double_arg(env, a[4], "momentum"));
    const double decay_arg = double_arg(env, a[5], "weight decay");
    const float weight_decay = float(decay_arg);
    bool nesterov = false;
    napi_get_value_bool(env, a[6], &nesterov);
    float* __restrict param_out = float_view(env, a[7], n, "param output");
    float* __restrict velocity_out = velocity ? float_view(env, a[8], n, "velocity output") : nullptr;
    for (size_t i = 0; i < n; i++) {
      float g = grad[i];
      if (decay_arg > 0) {
        const float decayed = param[i] * weight_decay;
        g = g + decayed;
      }
      float update = g;
      if (velocity) {
        const float kept = velocity[i] * momentum;
        const float v = kept + g;
        velocity_out[i] = v;
        if (nesterov) {
          const float ahead = v * momentum;
          update = g + ahead;
        } else {
          update = v;
        }
      }
      const float step = update * lr;
      param_out[i] = param[i] - step;
    }
    return nullptr;
  });
}

// ---------------------------------------------------------------------------------------------
// Max-pool gradient (NHWC): each window's gradient goes to the first position holding its
// maximum, in row-major window order (tfjs's rule: a strictly greater value replaces the
// maximum, so a window holding only NaN or -Infinity passes nothing). Images are independent, so the
// batch is split across threads and overlapping windows add up within one thread.

// One window position for every channel: a strictly greater value becomes the maximum and
// records its offset. Masks and a plain function over restrict pointers, so GCC vectorizes it
// (inside the OpenMP loop, with selects, it did not, and ran 6x slower).
void max_pool_step(const float* __restrict px, float* __restrict best, int32_t* __restrict where, int32_t base, int32_t c) {
  for (int32_t k = 0; k < c; k++) {
    const float v = px[k];
    const float bk = best[k];
    const int32_t greater = -int32_t(v > bk);
    best[k] = bk < v ? v : bk;
    where[k] = (where[k] & ~greater) | ((base + k) & greater);
  }
}

// maxPoolGrad(dy, x, dx, [n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl])
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 4);
    bool is_array = false;
    napi_is_array(env, a[3], &is_array);
    uint32_t len = 0;
    if (is_array) napi_get_array_length(env, a[3], &len);
    if (!is_array || len != 12) throw JsError("pooling geometry must be an array of 12 integers");
    int64_t g[12];
    for (uint32_t i = 0; i < 12; i++) {
      napi_value e;
      napi_get_element(env, a[3], i, &e);
      g[i] = int_arg(env, e, "pooling geometry entry");
    }
    const int64_t n = g[0], h = g[1], w = g[2], c = g[3], oh = g[4], ow = g[5], kh = g[6], kw = g[7], sh = g[8], sw = g[9], pt = g[10], pl = g[11];
    if (n < 1 || h < 1 || w < 1 || c < 1 || oh < 1 || ow < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1) throw JsError("pooling geometry: sizes must be positive");
    if (h * w * c >= (int64_t(1) << 31)) throw JsError("pooling geometry: an image of 2^31 elements or more");
    const float* dy = float_view(env, a[0], size_t(n * oh * ow * c), "dy");
    const float* x = float_view(env, a[1], size_t(n * h * w * c), "x");
    float* dx = float_view(env, a[2], size_t(n * h * w * c), "dx");
#pragma omp parallel for schedule(static) if (n * h * w * c >= kParallelMin)
    for (int64_t b = 0; b < n; b++) {
      const float* xi = x + b * h * w * c;
      const float* dyi = dy + b * oh * ow * c;
      float* dxi = dx + b * h * w * c;
      std::fill(dxi, dxi + h * w * c, 0.f);
      // Per channel: the window's maximum so far and where it is (an offset into the image, which
      // the caller keeps under 2^31 elements).
      std::vector<float> best_store(static_cast<size_t>(c));
      std::vector<int32_t> where_store(static_cast<size_t>(c));
      float* best = best_store.data();
      int32_t* where = where_store.data();
      for (int64_t oy = 0; oy < oh; oy++) {
        for (int64_t ox = 0; ox < ow; ox++) {
          for (int64_t k = 0; k < c; k++) {
            best[k] = -INFINITY;
            where[k] = -1;
          }
          for (int64_t wr = 0; wr < kh; wr++) {
            const int64_t iy = oy * sh - pt + wr;
            if (iy < 0 || iy >= h) continue;
            for (int64_t wc = 0; wc < kw; wc++) {
              const int64_t ix = ox * sw - pl + wc;
              if (ix < 0 || ix >= w) continue;
              const int32_t base = int32_t((iy * w + ix) * c);
              max_pool_step(xi + base, best, where, base, int32_t(c));
            }
          }
          const float* gy = dyi + (oy * ow + ox) * c;
          for (int64_t k = 0; k < c; k++) {
            if (where[k] >= 0) dxi[where[k]] += gy[k];
          }
        }
      }
    }
    return nullptr;
  });
}

// info(): versions and the machine's ISA and thread count
napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value out, v;
    napi_create_object(env, &out);
    const dnnl_version_t* ver = dnnl_version();
    std::string version = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
    napi_create_string_utf8(env, version.c_str(), version.size(), &v);
    napi_set_named_property(env, out, "onednn", v);
    napi_create_int32(env, omp_get_max_threads(), &v);
    napi_set_named_property(env, out, "threads", v);
    const char* isa = "unknown";
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
      case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
      case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
      case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
      case dnnl::cpu_isa::avx2_vnni: isa = "avx2_vnni"; break;
      case dnnl::cpu_isa::avx2: isa = "avx2"; break;
      case dnnl::cpu_isa::avx: isa = "avx"; break;
      case dnnl::cpu_isa::sse41: isa = "sse41"; break;
      default: break;
    }
    napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, out, "isa", v);
    return out;
  });
}

// setThreads(n): OpenMP threads for the kernels (oneDNN and batch norm)
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args_of(env, info, 1);
    const int64_t n = int_arg(env, a[0], "threads");
    if (n < 1) throw JsError("threads must be at least 1");
    omp_set_num_threads(int(n));
    return nullptr;
  });
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"convBackwardData", nullptr, ConvBackwardData, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"convBackwardWeights", nullptr, ConvBackwardWeights, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"convImplementation", nullptr, ConvImplementation, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"batchNormForward", nullptr, BatchNormForward, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"batchNormInference", nullptr, BatchNormInference, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"channelSums", nullptr, ChannelSums, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"elementwiseBinary", nullptr, ElementwiseBinary, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"reluGrad", nullptr, ReluGrad, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"reluMaskedScale", nullptr, ReluMaskedScale, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"sign", nullptr, Sign, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"movingAverage", nullptr, MovingAverage, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default_method, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
