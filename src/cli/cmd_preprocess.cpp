// medvqa preprocess --vision DIR --image IMG... --out FILE.safetensors [--window C,W] [--mode crop|pad]
// [--threads N]: open_clip's eval transform; "pixels" [3, S, S] fp32 for one image, [N, 3, S, S] for N.
#include <ATen/ops/from_blob.h>
#include <ATen/ops/stack.h>

#include <chrono>

#include "medvqa/cli/commands.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/log.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/vision/preprocess_files.h"

namespace medvqa::cli {

namespace {

struct PreprocessArgs {
  std::string vision;
  std::vector<std::string> images;
  std::string out;
  std::string window;
  std::string mode = "crop";
  int threads = 0;
};

void run_preprocess(const PreprocessArgs& args) {
  vision::PreprocessOptions options = vision::read_preprocess_options(args.vision);
  options.resize_mode = vision::parse_resize_mode(args.mode);
  if (!args.window.empty()) options.decode.window = vision::parse_window(args.window);
  const auto start = std::chrono::steady_clock::now();
  std::vector<vision::Pixels> pixels = vision::preprocess_files(args.images, options, args.threads);
  const double seconds = seconds_since(start);
  log_info("image: preprocessed ", pixels.size(), " image(s) in ", seconds, " s (", pixels.size() / seconds,
           " images/s)");
  std::vector<at::Tensor> tensors;
  for (auto& p : pixels)
    tensors.push_back(at::from_blob(p.data.data(), {p.channels, p.height, p.width}, at::kFloat));  // [3, S, S]
  // stack copies out of the borrowed buffers; one image keeps the documented [3, S, S].
  const at::Tensor out = tensors.size() == 1 ? tensors[0].clone() : at::stack(tensors);
  std::string names;
  for (const auto& image : args.images) names += (names.empty() ? "" : "\n") + image;
  write_safetensors(args.out, {{"pixels", out}},
                    {{"images", names},
                     {"resize_mode", args.mode},
                     {"window", args.window.empty() ? "auto" : args.window},
                     {"image_size", std::to_string(options.image_size)}});
  log_info("image: wrote pixels ", out.sizes(), " to ", args.out);
}

}  // namespace

void add_preprocess(CLI::App& app) {
  auto* cmd = app.add_subcommand("preprocess", "Run open_clip's eval image transform and write the pixels (safetensors)");
  auto args = std::make_shared<PreprocessArgs>();
  cmd->add_option("--vision", args->vision, "open_clip directory (open_clip_config.json: image size, mean, std)")
      ->required();
  cmd->add_option("--image", args->images, "image file(s): PNG, JPEG, BMP, TIFF or DICOM")->required();
  cmd->add_option("--out", args->out, "output .safetensors file with tensor \"pixels\"")->required();
  cmd->add_option("--window", args->window,
                  "CENTER,WIDTH for 16-bit images and DICOM (default: the DICOM file's window, else the full range)");
  cmd->add_option("--mode", args->mode, "crop: open_clip's resize + centre crop; pad: LLaVA-1.5 pad to square first")
      ->check(CLI::IsMember({"crop", "pad"}));
  cmd->add_option("--threads", args->threads, "worker threads for several images (0: one per core)");
  cmd->callback([args] { run_preprocess(*args); });
}

}  // namespace medvqa::cli
