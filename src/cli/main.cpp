// medvqa: one binary, one subcommand per job. User errors print "error: ..." and exit 1; a failed
// quality gate prints "gate failed: ..." and exits 3 (kGateFailedExit).
#include <c10/util/Exception.h>

#include <malloc.h>

#include <cstdio>
#include <limits>

#include "medvqa/cli/commands.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace {

constexpr int kGateFailedExit = 3;  // README's CLI section: 0 pass, 1 user error, 3 gate failed

// glibc hands every allocation above its mmap threshold (adaptive, at most 32 MiB) out as a fresh
// mapping and unmaps it when freed, so every forward pass page-faults its large activations in
// again: a batch-16 ViT forward's MLP activations ([16 * 197, 3072] fp32, twelve blocks) fault
// their pages in on every forward, a measurable share of its time (BENCHMARKS.md). Serving
// everything from the heap and keeping what is freed lets later passes reuse the same pages; the
// price is that a process keeps its peak memory until it exits.
void reuse_freed_memory() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

}  // namespace

int main(int argc, char** argv) {
  reuse_freed_memory();
  CLI::App app{"medvqa: a lightweight medical visual-question-answering model (BiomedCLIP + LLaMA-3 + LoRA)"};
  app.set_version_flag("--version", std::string("medvqa ") + MEDVQA_VERSION);
  app.require_subcommand(1);
  medvqa::init_logging("info");
  app.add_option_function<std::string>(
         "--log-level", [](const std::string& level) { medvqa::init_logging(level); }, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  medvqa::cli::add_config(app);
  medvqa::cli::add_inspect(app);
  medvqa::cli::add_convert(app);
  medvqa::cli::add_demo_data(app);
  medvqa::cli::add_demo_towers(app);
  medvqa::cli::add_train(app);
  medvqa::cli::add_grad_check(app);
  medvqa::cli::add_eval(app);
  medvqa::cli::add_score(app);
  medvqa::cli::add_compare(app);
  medvqa::cli::add_tokenize(app);
  medvqa::cli::add_preprocess(app);
  medvqa::cli::add_embed(app);
  medvqa::cli::add_generate(app);
  medvqa::cli::add_ask(app);
  medvqa::cli::add_export(app);
  medvqa::cli::add_serve(app);

  try {
    // CLI11 would only say that a subcommand is required.
    if (argc > 1 && argv[1][0] != '-') {
      bool known = false;
      for (const auto* cmd : app.get_subcommands([](CLI::App*) { return true; })) known = known || cmd->get_name() == argv[1];
      MEDVQA_CHECK(known, "unknown subcommand '", argv[1], "' (medvqa --help lists them)");
    }
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // CLI11's own codes (105, 106, ...) would leave the documented contract: a user error exits 1.
    std::fprintf(stderr, "error: %s\nRun with --help for more information.\n", e.what());
    return 1;
  } catch (const medvqa::GateFailure& e) {
    std::fprintf(stderr, "gate failed: %s\n", e.what());
    return kGateFailedExit;
  } catch (const medvqa::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
