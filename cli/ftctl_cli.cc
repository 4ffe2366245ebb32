// ftctl's CLI11 app: subcommand groups `model` (inspect, tokenize, import-llama2c, init, quantize) and `adapter`
// (init, merge), plus the job commands that AddJobCommands registers in service builds (job_cli.cc). Flags live in
// these two CLI files only; commands are flag-free functions in model_commands.h / adapter_commands.h /
// job_commands.h.
#include "cli/ftctl_cli.h"

#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "cli/adapter_commands.h"
#include "cli/job_cli.h"
#include "cli/model_commands.h"

namespace ftd {

int ReportFailure(absl::string_view message, int exit_code) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n') c = ' ';  // One line, whatever the message.
  }
  std::cerr << "ftctl: " << line << "\n";
  return exit_code;
}

int RunFtctl(int argc, char** argv) {
  CLI::App app{"ftctl: the ftd fine-tuning service's command line"};
  app.require_subcommand(1);

  CLI::App* model = app.add_subcommand("model", "Local model utilities (no server, no GPU)");
  model->require_subcommand(1);

  std::string dir, output = "table";
  CLI::App* inspect = model->add_subcommand("inspect", "Architecture, parameters, dtypes, files, tokenizer");
  inspect->add_option("dir", dir, "Hugging Face model directory")->required();
  inspect->add_option("-o,--output", output, "table or json")->check(CLI::IsMember({"table", "json"}));

  std::string jsonl;
  bool no_special = false;
  CLI::App* tokenize = model->add_subcommand("tokenize", "Token ids of stdin lines (or a JSONL of strings)");
  tokenize->add_option("dir", dir, "Model directory with tokenizer.json")->required();
  tokenize->add_flag("--no-special", no_special, "Do not add the post-processor's special tokens (BOS)");
  tokenize->add_option("--file", jsonl, "JSONL file: one JSON string per line");

  std::string checkpoint, tokenizer, out_dir;
  CLI::App* import = model->add_subcommand("import-llama2c", "Convert a llama2.c checkpoint to a HF model");
  import->add_option("checkpoint", checkpoint, "llama2.c v0 checkpoint (.bin)")->required();
  import->add_option("tokenizer", tokenizer, "llama2.c tokenizer (tok*.bin)")->required();
  import->add_option("out", out_dir, "Output model directory")->required();

  std::string config, tokenizer_dir;
  uint64_t seed = 0;
  CLI::App* init = model->add_subcommand("init", "Write a randomly initialised model for a config.json");
  init->add_option("--config", config, "config.json (or a directory holding one)")->required();
  init->add_option("--tokenizer", tokenizer_dir, "Directory whose tokenizer files are copied");
  init->add_option("--seed", seed, "Random seed");
  init->add_option("out", out_dir, "Output model directory")->required();

  bool no_double_quant = false;
  CLI::App* quantize = model->add_subcommand(
      "quantize", "Write the bitsandbytes 4-bit NF4 directory transformers saves for a model (QLoRA base)");
  quantize->add_option("dir", dir, "Unquantised Hugging Face model directory")->required();
  quantize->add_option("out", out_dir, "Output (quantised) model directory")->required();
  quantize->add_flag("--no-double-quant", no_double_quant,
                     "One fp32 absmax per 64 values (default: the absmax 8-bit quantised, as QLoRA)");

  CLI::App* adapter = app.add_subcommand("adapter", "PEFT LoRA adapter utilities");
  adapter->require_subcommand(1);
  std::string base, adapter_dir;
  CLI::App* merge = adapter->add_subcommand("merge", "Merge a LoRA adapter into its base model");
  merge->add_option("base", base, "Base model directory")->required();
  merge->add_option("adapter", adapter_dir, "PEFT adapter directory")->required();
  merge->add_option("out", out_dir, "Output (merged) model directory")->required();

  LoraConfig lora;
  std::string target_modules = "q_proj,v_proj";
  CLI::App* adapter_init = adapter->add_subcommand("init", "Write a fresh LoRA adapter (B = 0) for a base model");
  adapter_init->add_option("base", base, "Base model directory")->required();
  adapter_init->add_option("out", out_dir, "Output adapter directory")->required();
  adapter_init->add_option("--r", lora.r, "LoRA rank")->check(CLI::Range(int64_t{1}, int64_t{65536}));
  adapter_init->add_option("--alpha", lora.lora_alpha, "lora_alpha")->check(CLI::Range(0.001, 1e6));
  adapter_init->add_option("--dropout", lora.lora_dropout, "lora_dropout")->check(CLI::Range(0.0, 0.999));
  adapter_init->add_option("--target-modules", target_modules, "Comma-separated module names, or all-linear");
  adapter_init->add_flag("--rslora", lora.use_rslora, "Scale by alpha / sqrt(r)");
  adapter_init->add_option("--seed", seed, "Random seed");

  const JobCommandRunner run_job_command = AddJobCommands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ftctl: " << e.what() << " (see ftctl --help)\n";
    return 1;
  }

  if (std::optional<int> exit_code = run_job_command()) return *exit_code;
  absl::Status status = absl::OkStatus();
  if (*inspect) {
    status = ModelInspect(dir, output == "json" ? OutputFormat::kJson : OutputFormat::kTable, std::cout);
  } else if (*tokenize) {
    status = ModelTokenize(dir, no_special ? SpecialTokens::kOmit : SpecialTokens::kAdd, jsonl, std::cin, std::cout);
  } else if (*import) {
    status = ModelImportLlama2c(checkpoint, tokenizer, out_dir, std::cout);
  } else if (*init) {
    status = ModelInit(config, tokenizer_dir, seed, out_dir, std::cout);
  } else if (*quantize) {
    status = ModelQuantize(dir, out_dir, no_double_quant ? Nf4Statistics::kFp32Absmax : Nf4Statistics::kDoubleQuant,
                           std::cout);
  } else if (*adapter_init) {
    if (target_modules == "all-linear") {
      lora.all_linear = true;
      lora.target_modules = {"all-linear"};
    } else {
      lora.target_modules = absl::StrSplit(target_modules, ',', absl::SkipEmpty());
    }
    status = AdapterInit(base, lora, seed, out_dir, std::cout);
  } else if (*merge) {
    status = AdapterMerge(base, adapter_dir, out_dir, std::cout);
  }
  return status.ok() ? 0 : ReportFailure(status.message());
}

}  // namespace ftd
