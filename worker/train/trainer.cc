// RunTraining: the loop of one process. Data -> batching -> LlamaModel::ForwardBackward -> AdamWOptimizer, then
// the export.
#include "worker/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "model/tokenizer/tokenizer.h"
#include "worker/train/adamw_optimizer.h"
#include "worker/train/batching.h"
#include "worker/train/dataset.h"
#include "worker/train/lr_schedule.h"

namespace ftd {
namespace {

// The id right-padding uses: the tokenizer's pad token, else its eos, else 0. Padding is never scored and never
// attended to by a real token, so its value only has to be a valid id.
int32_t PadId(const Tokenizer& tokenizer) {
  for (const std::optional<std::string>& token : {tokenizer.config().pad_token, tokenizer.config().eos_token}) {
    if (!token.has_value()) continue;
    if (std::optional<int32_t> id = tokenizer.TokenToId(*token)) return *id;
  }
  return 0;
}

absl::StatusOr<std::vector<float>> ParameterToHost(LlamaModel& model, const std::string& name) {
  ASSIGN_OR_RETURN(DeviceBuffer * buffer, model.Parameter(name));
  std::vector<float> host(static_cast<size_t>(buffer->size()));
  RETURN_IF_ERROR(model.backend()->CopyToHost(host.data(), buffer->data(), buffer->size() * 4));
  return host;
}

// The trained adapter: `adapter`'s config and keys with the model's current A and B, fp32 (as PEFT saves).
absl::Status WriteTrainedAdapter(LlamaModel& model, LoraAdapter adapter, const std::string& dir) {
  for (auto& [key, pair] : adapter.weights) {
    ASSIGN_OR_RETURN(std::vector<float> a, ParameterToHost(model, PeftTensorName(key, false)));
    ASSIGN_OR_RETURN(std::vector<float> b, ParameterToHost(model, PeftTensorName(key, true)));
    pair.a = Tensor::FromF32(pair.a.shape, a);
    pair.b = Tensor::FromF32(pair.b.shape, b);
  }
  return WriteLoraAdapter(dir, adapter);
}

// Every weight of the model, in the base model's dtype (save_pretrained of a model loaded in that dtype), with the
// base model's config.json and tokenizer files.
absl::Status WriteTrainedModel(LlamaModel& model, const std::string& base_dir, const std::string& dir) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const HfTensorSpec& spec : LlamaTensorSpecs(model.config())) {
    ASSIGN_OR_RETURN(std::vector<float> values, ParameterToHost(model, spec.name));
    ASSIGN_OR_RETURN(Tensor tensor, FromF32As(model.config().dtype, spec.shape, values));
    tensors.emplace_back(spec.name, std::move(tensor));
  }
  std::vector<std::pair<std::string, TensorView>> views;
  for (const auto& [name, tensor] : tensors) views.emplace_back(name, tensor.view());
  ASSIGN_OR_RETURN(std::string config_json, ReadFileToString(JoinPath(base_dir, "config.json")));
  return SaveHfModel(dir, config_json, views, base_dir);
}

// Every dataset's examples in file order; examples with nothing to learn are dropped and counted in `dropped`.
absl::StatusOr<std::vector<Example>> LoadExamples(const TrainConfig& config, const Tokenizer& tokenizer,
                                                  int64_t& dropped) {
  DatasetOptions options;
  options.sequence_len = config.sequence_len;
  std::vector<Example> examples;
  for (const TrainDataset& dataset : config.datasets) {
    options.format = dataset.format;
    ASSIGN_OR_RETURN(std::vector<Example> loaded, LoadJsonlDataset(dataset.path, tokenizer, options));
    for (Example& e : loaded) {
      if (CountTargets(e) == 0) {
        ++dropped;
        continue;
      }
      examples.push_back(std::move(e));
    }
  }
  return examples;
}

// One step of the global batch: up to `per_step` micro-batches of the epoch's `order` from `next_micro` on (never
// past the end of the epoch), of which this rank runs those with index % world == rank. Advances next_micro.
struct StepShare {
  std::vector<MicroBatch> mine;
  std::vector<int64_t> mine_index;  // Each one's index within the step (for its dropout stream).
  int64_t targets = 0;              // Scored tokens of the whole global step, on every rank alike.
  int64_t micro_batches = 0;        // Global micro-batches in the step.
};

StepShare StepMicroBatches(const std::vector<Example>& examples, const std::vector<int64_t>& order,
                           int64_t micro_batch_size, int64_t per_step, int64_t micro_per_epoch, int32_t pad_id,
                           int rank, int world, int64_t& next_micro) {
  StepShare share;
  const auto total = static_cast<int64_t>(order.size());
  for (int64_t k = 0; k < per_step && next_micro < micro_per_epoch; ++k, ++next_micro) {
    const int64_t begin = next_micro * micro_batch_size;
    const int64_t end = std::min(begin + micro_batch_size, total);
    const absl::Span<const int64_t> indices = absl::MakeConstSpan(order).subspan(begin, end - begin);
    ++share.micro_batches;
    if (k % world == rank) {
      share.mine.push_back(Collate(examples, indices, pad_id));
      share.mine_index.push_back(k);
      share.targets += share.mine.back().targets;
    } else {
      for (int64_t i : indices) share.targets += CountTargets(examples[i]);
    }
  }
  return share;
}

// Sums the step's gradients (and its loss and token count) over the ranks.
absl::Status ReduceAcrossRanks(Collective& collective, absl::Duration timeout, LlamaGradients& grads,
                               TrainStepLog& log) {
  for (const std::string& name : grads.names()) {
    ASSIGN_OR_RETURN(int64_t elements, grads.Elements(name));
    RETURN_IF_ERROR_CONTEXT(collective.AllReduce(grads.Find(name), elements, ReduceOp::kSum, timeout),
                            absl::StrCat("all-reducing ", name));
  }
  float totals[2] = {static_cast<float>(log.loss), static_cast<float>(log.tokens)};
  RETURN_IF_ERROR_CONTEXT(collective.AllReduce(totals, 2, ReduceOp::kSum, timeout), "all-reducing the loss");
  log.loss = totals[0];
  log.tokens = static_cast<int64_t>(totals[1]);
  return absl::OkStatus();
}

std::string Describe(const TrainStepLog& s) {
  return absl::StrFormat("step %d/%d epoch %d loss %.6f lr %.4g grad_norm %.4g tokens %d %.2fs", s.step,
                         s.total_steps, s.epoch, s.loss, s.lr, s.grad_norm, s.tokens, s.seconds);
}

}  // namespace

absl::StatusOr<TrainSummary> RunTraining(const TrainConfig& config, const TrainRunOptions& options) {
  auto note = [&](const std::string& text) {
    if (options.on_note) options.on_note(text);
  };
  if (options.backend == nullptr) return absl::InvalidArgumentError("RunTraining: no backend");
  if (options.output_dir.empty()) return absl::InvalidArgumentError("RunTraining: no output directory");

  ASSIGN_OR_RETURN_CONTEXT(HfModel hf, LoadHfModel(config.base_model), "base_model");
  ASSIGN_OR_RETURN_CONTEXT(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromDir(config.base_model),
                           "base_model tokenizer");

  TrainSummary summary;
  ASSIGN_OR_RETURN(std::vector<Example> examples, LoadExamples(config, *tokenizer, summary.dropped_examples));
  if (summary.dropped_examples > 0) {
    note(absl::StrCat(summary.dropped_examples, " examples score no token after truncation to sequence_len ",
                      config.sequence_len, " (a lone token, or a prompt filling the window): skipped"));
  }
  if (examples.empty()) return absl::InvalidArgumentError("datasets: no example has a token to learn from");
  summary.examples = static_cast<int64_t>(examples.size());
  const int rank = options.collective != nullptr ? options.collective->rank() : 0;
  const int world = options.collective != nullptr ? options.collective->world_size() : 1;
  const int64_t per_step = config.gradient_accumulation_steps * world;  // Global micro-batches a step.
  ASSIGN_OR_RETURN(const StepPlan plan, PlanSteps(summary.examples, config.micro_batch_size, per_step,
                                                  config.num_epochs, config.max_steps));

  ASSIGN_OR_RETURN_CONTEXT(std::unique_ptr<LlamaModel> model, LlamaModel::Load(hf, options.backend), "base_model");
  const LlamaConfig model_config = hf.config;
  hf = HfModel();  // The weights are on the backend now: unmap the files.
  LoraAdapter adapter;
  if (config.method == TrainMethod::kLora) {
    LoraConfig lora = config.lora;
    lora.base_model_name_or_path = config.base_model;
    ASSIGN_OR_RETURN(adapter, InitLoraAdapter(lora, model_config, config.seed));
    RETURN_IF_ERROR(model->AttachLora(adapter));
  }
  ASSIGN_OR_RETURN(LlamaGradients grads, model->NewGradients(config.method == TrainMethod::kLora
                                                                 ? TrainMode::kLora
                                                                 : TrainMode::kFull));
  AdamWOptions adamw;
  adamw.weight_decay = config.weight_decay;
  adamw.max_grad_norm = config.max_grad_norm;
  ASSIGN_OR_RETURN(AdamWOptimizer optimizer, AdamWOptimizer::Create(*model, grads, adamw));
  LrScheduleConfig schedule;
  schedule.kind = config.lr_scheduler;
  schedule.peak_lr = config.learning_rate;
  schedule.warmup_steps = config.warmup_steps;
  schedule.total_steps = plan.total_steps;
  ASSIGN_OR_RETURN(schedule, CheckLrSchedule(schedule));
  note(absl::StrCat(summary.examples, " examples, ", plan.micro_batches_per_epoch, " micro-batches of up to ",
                    config.micro_batch_size, " an epoch, ", plan.steps_per_epoch, " steps an epoch, ",
                    plan.total_steps, " steps, ", grads.names().size(), " trained tensors"));

  const int32_t pad_id = PadId(*tokenizer);
  int64_t epoch = 0;
  int64_t next_micro = 0;  // Index of the next micro-batch within the epoch.
  int64_t micro_done = 0;  // Global micro-batches of the run before this step: names their dropout streams.
  std::vector<int64_t> order = EpochOrder(summary.examples, config.seed, epoch);
  for (int64_t step = 0; step < plan.total_steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    if (next_micro == plan.micro_batches_per_epoch) {
      ++epoch;
      next_micro = 0;
      order = EpochOrder(summary.examples, config.seed, epoch);
    }
    const StepShare share = StepMicroBatches(examples, order, config.micro_batch_size, per_step,
                                             plan.micro_batches_per_epoch, pad_id, rank, world, next_micro);
    const int64_t step_targets = share.targets;
    TrainStepLog log;
    log.step = step + 1;
    log.total_steps = plan.total_steps;
    log.epoch = epoch;
    log.targets = step_targets;
    for (size_t j = 0; j < share.mine.size(); ++j) {
      const MicroBatch& mb = share.mine[j];
      // LoRA dropout draws from the micro-batch's global index, so masks do not depend on the world size.
      model->SetLoraDropoutRng(LoraDropoutRng{config.seed, static_cast<uint64_t>(micro_done + share.mine_index[j])});
      // Each micro-batch's loss is its summed token loss over the global step's target count, so the gradients
      // add up (over micro-batches and ranks) to that of the step's mean token loss (transformers'
      // num_items_in_batch).
      ASSIGN_OR_RETURN_CONTEXT(float loss,
                               model->ForwardBackward(mb.ids, mb.labels, mb.batch, mb.seq, &grads, step_targets),
                               absl::StrCat("step ", step + 1));
      log.loss += loss;
      log.tokens += mb.tokens;
    }
    micro_done += share.micro_batches;
    if (world > 1) {
      RETURN_IF_ERROR_CONTEXT(ReduceAcrossRanks(*options.collective, options.collective_timeout, grads, log),
                              absl::StrCat("step ", step + 1));
    }
    log.lr = LearningRate(schedule, step);
    ASSIGN_OR_RETURN_CONTEXT(log.grad_norm, optimizer.Step(*model, grads, log.lr),
                             absl::StrCat("step ", step + 1, " (loss ", log.loss, ")"));
    RETURN_IF_ERROR(grads.Zero());
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    summary.final_loss = log.loss;
    summary.steps = step + 1;
    if (options.on_step) options.on_step(log);
    note(Describe(log));
  }

  if (rank != 0) return summary;  // Every rank holds the same weights; rank 0 writes them.
  if (config.method == TrainMethod::kLora) {
    RETURN_IF_ERROR_CONTEXT(WriteTrainedAdapter(*model, adapter, options.output_dir), "writing the adapter");
  } else {
    RETURN_IF_ERROR_CONTEXT(WriteTrainedModel(*model, config.base_model, options.output_dir), "writing the model");
  }
  note(absl::StrCat("wrote ", config.method == TrainMethod::kLora ? "the PEFT adapter" : "the model", " to ",
                    options.output_dir));
  return summary;
}

}  // namespace ftd
