// medvqa embed --vision DIR (--image IMG... | --pixels FILE) --out FILE.safetensors [--dtype] [--device]
// [--threads N] [--repeat N]: the BiomedCLIP vision tower's outputs, always fp32: "embedding" [E],
// "tokens" [T, D] (final norm) and "penultimate" [T, D] (hidden state -2), with a leading batch
// dimension for several images or a [N, 3, H, W] "pixels" tensor.
#include <ATen/ops/from_blob.h>
#include <ATen/ops/stack.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "medvqa/cli/commands.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/io/tensor_store.h"
#include "medvqa/models/vit.h"
#include "medvqa/vision/preprocess_files.h"
#include "medvqa/vision/window.h"

namespace medvqa::cli {

namespace {

struct EmbedArgs {
  std::string vision;
  std::vector<std::string> images;
  std::string pixels;
  std::string out;
  std::string window;
  std::string dtype = "auto";
  std::string device = "auto";
  int threads = 0;
  int repeat = 0;
};

// [N, 3, H, W] from the image files through open_clip's eval transform, or from a "pixels" tensor.
at::Tensor read_pixels(const EmbedArgs& args) {
  if (!args.pixels.empty()) {
    const TensorStore store = TensorStore::open(args.pixels);
    const TensorInfo* info = store.find("pixels");
    MEDVQA_CHECK(info, args.pixels, ": no tensor named \"pixels\" (expected [3, H, W] or [N, 3, H, W])");
    MEDVQA_CHECK((info->shape.size() == 3 || info->shape.size() == 4) && info->shape[info->shape.size() - 3] == 3,
                 args.pixels, ": \"pixels\" must be [3, H, W] or [N, 3, H, W], got ", shape_str(info->shape));
    at::Tensor pixels = store.load("pixels").to(at::kFloat);
    return pixels.dim() == 3 ? pixels.unsqueeze(0) : pixels;
  }
  vision::PreprocessOptions options = vision::read_preprocess_options(args.vision);
  if (!args.window.empty()) options.decode.window = vision::parse_window(args.window);
  std::vector<vision::Pixels> images = vision::preprocess_files(args.images, options, args.threads);
  std::vector<at::Tensor> tensors;
  for (auto& p : images) tensors.push_back(at::from_blob(p.data.data(), {p.channels, p.height, p.width}, at::kFloat));
  return at::stack(tensors);  // copies out of the borrowed buffers: [N, 3, S, S]
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// Benchmarking: `repeat` timed forward passes after one warm-up; prints the best as JSON on stdout.
void time_forward(Vit& vit, const at::Tensor& pixels, const EmbedArgs& args, const c10::Device& device,
                  c10::ScalarType dtype) {
  double best = 1e30;
  for (int i = 0; i <= args.repeat; ++i) {
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    vit->forward(pixels);
    synchronize(device);
    const double seconds = seconds_since(start);
    if (i > 0) best = std::min(best, seconds);
  }
  std::printf("{\"batch\": %lld, \"dtype\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"repeat\": %d, "
              "\"best_s\": %.6f, \"images_per_s\": %.6g}\n",
              static_cast<long long>(pixels.size(0)), dtype_name(dtype).c_str(), device.str().c_str(),
              at::get_num_threads(), args.repeat, best, pixels.size(0) / best);
}

void run_embed(const EmbedArgs& args) {
  MEDVQA_CHECK(args.images.empty() != args.pixels.empty(), "embed: give exactly one of --image and --pixels");
  const c10::Device device = parse_device(args.device);
  const c10::ScalarType dtype = parse_dtype(args.dtype, device);
  set_threads(args.threads);
  Vit vit = load_vit(args.vision, device, dtype);
  c10::InferenceMode inference;  // no autograd records or version counters, as torch.inference_mode()
  const at::Tensor pixels = read_pixels(args).to(device, dtype);  // [N, 3, H, W]
  if (args.repeat > 0) time_forward(vit, pixels, args, device, dtype);

  const auto start = std::chrono::steady_clock::now();
  VitOutput out = vit->forward(pixels, true);
  synchronize(device);
  const double seconds = seconds_since(start);
  log_info("vit: embedded ", pixels.size(0), " image(s) ", pixels.size(2), "x", pixels.size(3), " in ", seconds,
           " s (", pixels.size(0) / seconds, " images/s)");
  // One image keeps the documented unbatched shapes.
  const bool single = pixels.size(0) == 1;
  auto fp32 = [&](const at::Tensor& t) {
    at::Tensor f = t.to(at::kCPU, at::kFloat);
    return single ? f.squeeze(0) : f;
  };
  write_safetensors(args.out,
                    {{"embedding", fp32(out.embedding)},
                     {"tokens", fp32(out.tokens)},
                     {"penultimate", fp32(out.hidden_states[resolve_hidden_state_index(-2, vit->options.depth)])}},
                    {{"vision", args.vision}, {"dtype", dtype_name(dtype)}, {"device", device.str()}});
  log_info("vit: wrote embedding ", out.embedding.sizes(), ", tokens and penultimate ", out.tokens.sizes(), " to ",
           args.out);
}

}  // namespace

void add_embed(CLI::App& app) {
  auto* cmd = app.add_subcommand("embed", "Run the BiomedCLIP vision tower on images and write its outputs (safetensors)");
  auto args = std::make_shared<EmbedArgs>();
  cmd->add_option("--vision", args->vision,
                  "open_clip directory: open_clip_config.json + open_clip_pytorch_model.bin or a .safetensors file")
      ->required();
  cmd->add_option("--image", args->images, "image file(s): PNG, JPEG, BMP, TIFF or DICOM");
  cmd->add_option("--pixels", args->pixels,
                  "instead of --image: a .safetensors file with \"pixels\" [3, H, W] or [N, 3, H, W], preprocessed");
  cmd->add_option("--out", args->out, "output .safetensors: embedding, tokens, penultimate (fp32)")->required();
  cmd->add_option("--window", args->window, "CENTER,WIDTH for 16-bit images and DICOM");
  cmd->add_option("--dtype", args->dtype, "auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N");
  cmd->add_option("--threads", args->threads, "intra-op threads (0: one per core)");
  cmd->add_option("--repeat", args->repeat, "benchmark: time this many forward passes after a warm-up, print JSON")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args] { run_embed(*args); });
}

}  // namespace medvqa::cli
