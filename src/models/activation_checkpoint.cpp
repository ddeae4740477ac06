#include "medvqa/models/activation_checkpoint.h"

#include <ATen/autocast_mode.h>

#include <mutex>

#include "medvqa/core/autocast.h"

namespace medvqa {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Fn = std::function<at::Tensor(const at::Tensor&)>;

// What backward needs besides tensors: the function and the state it ran under.
struct Recompute : torch::CustomClassHolder {
  Fn fn;
  at::Tensor rng_state;  // of x's device generator when forward ran
  bool autocast = false;
  c10::ScalarType autocast_dtype = c10::kBFloat16;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // Runs with grad mode off (Function::apply), so fn keeps no graph.
  // params as a TensorList: Function::apply counts a TensorList's tensors as inputs, while any
  // other type (std::vector included) is a non-tensor argument.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList params,
                            c10::intrusive_ptr<Recompute> recompute) {
    variable_list saved{x};
    saved.insert(saved.end(), params.begin(), params.end());
    ctx->save_for_backward(saved);
    at::Tensor out = recompute->fn(x);
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(std::move(recompute));
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    c10::intrusive_ptr<torch::CustomClassHolder> holder = ctx->saved_data["recompute"].toCapsule();
    const auto* recompute = static_cast<const Recompute*>(holder.get());
    variable_list saved = ctx->get_saved_variables();
    variable_list inputs{saved[0].detach().requires_grad_(true)};
    inputs.insert(inputs.end(), saved.begin() + 1, saved.end());
    // Replay forward's random stream (LoRA dropout), then give the caller's stream back. The
    // generator's lock is held only around the state swaps: dropout takes it too.
    at::Generator gen = at::globalContext().defaultGenerator(inputs[0].device());
    at::Tensor callers_state;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      callers_state = gen.get_state();
      gen.set_state(recompute->rng_state);
    }
    at::Tensor out;
    {
      at::AutoGradMode grad(true);
      AutocastGuard autocast(inputs[0].device().type(), recompute->autocast, recompute->autocast_dtype);
      out = recompute->fn(inputs[0]);
    }
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(callers_state);
    }
    variable_list grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, false, false, true);
    grads.emplace_back();  // the non-tensor argument
    return grads;
  }
};

}  // namespace

at::Tensor checkpointed(const Fn& fn, const at::Tensor& x, const std::vector<at::Tensor>& params) {
  if (!at::GradMode::is_enabled() || (!x.requires_grad() && params.empty())) return fn(x);
  auto recompute = c10::make_intrusive<Recompute>();
  recompute->fn = fn;
  {
    at::Generator gen = at::globalContext().defaultGenerator(x.device());
    std::lock_guard<std::mutex> lock(gen.mutex());
    recompute->rng_state = gen.get_state();
  }
  recompute->autocast = at::autocast::is_autocast_enabled(x.device().type());
  recompute->autocast_dtype = at::autocast::get_autocast_dtype(x.device().type());
  return CheckpointFunction::apply(x, at::TensorList(params), std::move(recompute));
}

}  // namespace medvqa
