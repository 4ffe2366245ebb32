// RunTraining: the loop of one rank. Data -> batching -> LlamaModel::ForwardBackward -> all-reduce -> AdamWOptimizer,
// with the guardrail evals and checkpoints between steps, then the export.
#include "worker/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "model/tokenizer/tokenizer.h"
#include "model/training_flops.h"
#include "worker/train/adamw_optimizer.h"
#include "worker/train/batching.h"
#include "worker/train/dataset.h"
#include "worker/train/guardrail_eval.h"
#include "worker/train/host_collective.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/train_checkpoint.h"

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

// Every dataset's examples in file order. Malformed lines are skipped and reported through `note` (the load fails
// past max_bad_line_fraction); examples with nothing to learn are dropped and counted in `dropped`.
absl::StatusOr<std::vector<Example>> LoadExamples(const TrainConfig& config, const Tokenizer& tokenizer,
                                                  int64_t& dropped,
                                                  const std::function<void(const std::string&)>& note) {
  DatasetOptions options;
  options.sequence_len = config.sequence_len;
  options.chat_template = config.chat_template;
  options.max_bad_line_fraction = config.max_bad_line_fraction;
  std::vector<Example> examples;
  for (const TrainDataset& dataset : config.datasets) {
    options.format = dataset.format;
    ASSIGN_OR_RETURN(LoadedDataset loaded, LoadDataset(dataset.path, tokenizer, options));
    dropped += loaded.dropped;
    if (!loaded.bad_lines.empty()) {
      note(absl::StrCat(dataset.path, ": skipped ", loaded.bad_lines.size(), " malformed lines of ", loaded.records));
    }
    for (const std::string& line : BadLineNotes(loaded.bad_lines)) note(line);
    for (Example& e : loaded.examples) {
      if (CountTargets(e) == 0) {
        ++dropped;
        continue;
      }
      examples.push_back(std::move(e));
    }
  }
  return examples;
}

// The rehearsal examples the job mixes in: ratio of the training sequences, drawn from the general-text pool.
absl::StatusOr<std::vector<Example>> LoadRehearsal(const TrainConfig& config, const Tokenizer& tokenizer,
                                                   int64_t task_examples,
                                                   const std::function<void(const std::string&)>& note) {
  if (!config.rehearsal.has_value()) return std::vector<Example>();
  ASSIGN_OR_RETURN(const int64_t count, RehearsalCount(config.rehearsal->ratio, task_examples));
  if (count == 0) return std::vector<Example>();
  DatasetOptions options;
  options.sequence_len = config.sequence_len;
  options.max_bad_line_fraction = config.max_bad_line_fraction;
  ASSIGN_OR_RETURN_CONTEXT(LoadedDataset pool, LoadRehearsalPool(config.rehearsal->path, tokenizer, options),
                           "rehearsal.path");
  for (const std::string& line : BadLineNotes(pool.bad_lines)) note(line);
  return DrawRehearsal(pool.examples, count, config.seed);
}

// One step of the global batch: up to `per_step` micro-batches of the epoch's `order` from `next_micro` on (never
// past the end of the epoch), of which this rank runs those with index % world == rank. Advances next_micro.
struct StepShare {
  std::vector<MicroBatch> mine;
  std::vector<int64_t> mine_index;  // Each one's index within the step (for its dropout stream).
  int64_t targets = 0;              // Scored tokens of the whole global step, on every rank alike.
  int64_t micro_batches = 0;        // Global micro-batches in the step.
};

// How a step's micro-batches are made: from single examples, or from packed rows of them (sample_packing).
struct Units {
  const std::vector<Example>* examples = nullptr;
  std::optional<std::vector<PackedRow>> rows;  // Set when packing.
  int32_t pad_id = 0;

  int64_t count() const { return rows ? static_cast<int64_t>(rows->size()) : static_cast<int64_t>(examples->size()); }
  MicroBatch Collate(absl::Span<const int64_t> indices) const {
    return rows ? CollatePacked(*examples, *rows, indices, pad_id) : ftd::Collate(*examples, indices, pad_id);
  }
  int64_t Targets(int64_t i) const {
    return rows ? (*rows)[static_cast<size_t>(i)].targets : CountTargets((*examples)[static_cast<size_t>(i)]);
  }
};

StepShare StepMicroBatches(const Units& units, const std::vector<int64_t>& order, int64_t micro_batch_size,
                           int64_t per_step, int64_t micro_per_epoch, int rank, int world, int64_t& next_micro) {
  StepShare share;
  const auto total = static_cast<int64_t>(order.size());
  for (int64_t k = 0; k < per_step && next_micro < micro_per_epoch; ++k, ++next_micro) {
    const int64_t begin = next_micro * micro_batch_size;
    const int64_t end = std::min(begin + micro_batch_size, total);
    const absl::Span<const int64_t> indices = absl::MakeConstSpan(order).subspan(begin, end - begin);
    ++share.micro_batches;
    if (k % world == rank) {
      share.mine.push_back(units.Collate(indices));
      share.mine_index.push_back(k);
      share.targets += share.mine.back().targets;
    } else {
      for (int64_t i : indices) share.targets += units.Targets(i);
    }
  }
  return share;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Gradients travel in buckets of this many floats (32 MiB): large enough that per-call latency vanishes, small
// enough that a bucket's transfer does not hold a whole full-FT gradient in flight.
constexpr int64_t kGradientBucketFloats = int64_t{8} << 20;

// Sums the step's gradients (and its loss and token count) over the ranks: the gradients' flat buffer in buckets.
absl::Status ReduceAcrossRanks(Collective& collective, Backend& backend, absl::Duration timeout,
                               LlamaGradients& grads, TrainStepLog& log) {
  RETURN_IF_ERROR(backend.Synchronize());  // The collective reads the gradients on its own stream.
  for (int64_t begin = 0; begin < grads.flat_size(); begin += kGradientBucketFloats) {
    const int64_t count = std::min(kGradientBucketFloats, grads.flat_size() - begin);
    RETURN_IF_ERROR_CONTEXT(collective.AllReduce(grads.flat() + begin, count, ReduceOp::kSum, timeout),
                            absl::StrCat("all-reducing gradient bucket ", begin / kGradientBucketFloats, " (",
                                         count * 4, " bytes)"));
  }
  float totals[2] = {static_cast<float>(log.loss), static_cast<float>(log.tokens)};
  RETURN_IF_ERROR_CONTEXT(AllReduceHost(collective, backend, totals, 2, ReduceOp::kSum, timeout),
                          "all-reducing the loss");
  log.loss = totals[0];
  log.tokens = static_cast<int64_t>(totals[1]);
  return absl::OkStatus();
}

std::string Describe(const TrainStepLog& s) {
  return absl::StrFormat("step %d/%d epoch %d loss %.6f lr %.4g grad_norm %.4g tokens %d %.2fs", s.step,
                         s.total_steps, s.epoch, s.loss, s.lr, s.grad_norm, s.tokens, s.seconds);
}

// The held-out validation split: ceil(val_set_size * n) examples picked by a seeded permutation (its own stream,
// apart from the epoch orders), in file order; the rest train. Both keep file order.
void SplitValidation(double val_set_size, uint64_t seed, std::vector<Example>& examples,
                     std::vector<Example>& validation) {
  const auto n = static_cast<int64_t>(examples.size());
  const auto held = static_cast<int64_t>(std::ceil(val_set_size * static_cast<double>(n)));
  if (held <= 0) return;
  std::vector<int64_t> order = EpochOrder(n, seed ^ 0x76616c5f73706c74ULL, 0);  // "val_splt"
  std::vector<bool> is_val(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < held; ++i) is_val[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
  std::vector<Example> train;
  for (int64_t i = 0; i < n; ++i) {
    (is_val[static_cast<size_t>(i)] ? validation : train).push_back(std::move(examples[static_cast<size_t>(i)]));
  }
  examples = std::move(train);
}

// Adds `sum` across the ranks (fp32 on the wire: the totals are well within its precision for a guardrail).
absl::Status SumAcrossRanks(Collective* collective, Backend& backend, absl::Duration timeout, NllSum& sum) {
  if (collective == nullptr || collective->world_size() == 1) return absl::OkStatus();
  float values[2] = {static_cast<float>(sum.nll), static_cast<float>(sum.tokens)};
  RETURN_IF_ERROR(AllReduceHost(*collective, backend, values, 2, ReduceOp::kSum, timeout));
  sum.nll = values[0];
  sum.tokens = static_cast<int64_t>(values[1]);
  return absl::OkStatus();
}

// One rank's run, as an object so that the steps, evals and checkpoints share its state.
class TrainingRun {
 public:
  TrainingRun(const TrainConfig& config, const TrainRunOptions& options)
      : config_(config),
        options_(options),
        rank_(options.collective != nullptr ? options.collective->rank() : 0),
        world_(options.collective != nullptr ? options.collective->world_size() : 1) {}

  absl::StatusOr<TrainSummary> Run();

 private:
  void Note(const std::string& text) const {
    if (options_.on_note) options_.on_note(text);
  }
  absl::Status Setup();
  void ResolvePeakFlops();
  absl::Status Resume();
  absl::Status ShareResumedState();
  absl::Status TrainStep();
  absl::Status Evaluate();
  absl::Status Save();
  absl::Status Export();

  const TrainConfig& config_;
  const TrainRunOptions& options_;
  const int rank_;
  const int world_;
  TrainSummary summary_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<Example> examples_;
  std::vector<Example> validation_;
  std::optional<GeneralEvalSet> general_;
  StepPlan plan_;
  std::unique_ptr<LlamaModel> model_;
  LoraAdapter adapter_;
  std::optional<LlamaGradients> grads_;
  std::optional<AdamWOptimizer> optimizer_;
  LrScheduleConfig schedule_;
  std::optional<EarlyStopPolicy> policy_;
  LlamaConfig model_config_;
  int64_t adapter_params_ = 0;      // Trained LoRA parameters (0 for full fine-tuning): the FLOP rule's N_adapter.
  std::optional<double> peak_flops_;  // MFU's denominator; none when unknown.
  std::string fingerprint_;
  int32_t pad_id_ = 0;
  TrainProgress progress_;
  Units units_;                 // What an epoch orders: examples, or packed rows.
  std::vector<int64_t> order_;  // The current epoch's order of units_.
  int64_t last_saved_step_ = -1;
  bool resumed_ = false;  // The state came from a checkpoint.
};

absl::Status TrainingRun::Setup() {
  if (options_.backend == nullptr) return absl::InvalidArgumentError("RunTraining: no backend");
  if (options_.output_dir.empty()) return absl::InvalidArgumentError("RunTraining: no output directory");
  if (config_.world_size != world_) {
    return absl::InvalidArgumentError(absl::StrCat("world_size: the job spec says ", config_.world_size,
                                                   " ranks but this run has ", world_));
  }
  if (config_.early_stopping.has_value()) {
    if (rank_ == 0 && options_.checkpoints == nullptr) {
      return absl::FailedPreconditionError("early_stopping: needs a checkpoint store (its result is a checkpoint)");
    }
    if (config_.val_set_size <= 0) {
      return absl::InvalidArgumentError(
          "early_stopping: needs val_set_size > 0 (the best checkpoint is the one with the lowest task validation "
          "loss)");
    }
  }
  ASSIGN_OR_RETURN_CONTEXT(HfModel hf, LoadHfModel(config_.base_model), "base_model");
  ASSIGN_OR_RETURN_CONTEXT(tokenizer_, Tokenizer::FromDir(config_.base_model), "base_model tokenizer");
  const auto note = [this](const std::string& text) { Note(text); };
  ASSIGN_OR_RETURN(examples_, LoadExamples(config_, *tokenizer_, summary_.dropped_examples, note));
  if (summary_.dropped_examples > 0) {
    Note(absl::StrCat(summary_.dropped_examples, " examples score no token after truncation to sequence_len ",
                      config_.sequence_len, " (a lone token, or a prompt filling the window): skipped"));
  }
  SplitValidation(config_.val_set_size, config_.seed, examples_, validation_);
  if (examples_.empty()) return absl::InvalidArgumentError("datasets: no example has a token to learn from");
  ASSIGN_OR_RETURN(std::vector<Example> rehearsal,
                   LoadRehearsal(config_, *tokenizer_, static_cast<int64_t>(examples_.size()), note));
  if (!rehearsal.empty()) {
    Note(absl::StrCat("rehearsal: ", rehearsal.size(), " general-text sequences from ", config_.rehearsal->path,
                      " mixed into ", examples_.size(), " task examples"));
    for (Example& e : rehearsal) examples_.push_back(std::move(e));
  }
  summary_.examples = static_cast<int64_t>(examples_.size());
  pad_id_ = PadId(*tokenizer_);
  units_.examples = &examples_;
  units_.pad_id = pad_id_;
  if (config_.sample_packing) {
    // Packed once, in dataset order, so every epoch has the same rows (and the step plan holds); epochs shuffle rows.
    std::vector<int64_t> all(examples_.size());
    std::iota(all.begin(), all.end(), 0);
    ASSIGN_OR_RETURN(units_.rows, PackExamples(examples_, all, config_.sequence_len));
    Note(absl::StrCat("sample packing: ", examples_.size(), " examples in ", units_.rows->size(), " rows of up to ",
                      config_.sequence_len, " tokens"));
  }
  const int64_t per_step = config_.gradient_accumulation_steps * world_;  // Global micro-batches a step.
  ASSIGN_OR_RETURN(plan_, PlanSteps(units_.count(), config_.micro_batch_size, per_step, config_.num_epochs,
                                    config_.max_steps));
  if (config_.early_stopping.has_value()) {
    ASSIGN_OR_RETURN_CONTEXT(
        general_, LoadGeneralEvalSet(config_.early_stopping->general_eval_dataset, *tokenizer_, config_.sequence_len),
        "early_stopping.general_eval_dataset");
    EarlyStopConfig early;
    early.general_ppl_max_rise = config_.early_stopping->general_ppl_max_rise;
    early.patience = config_.early_stopping->patience;
    ASSIGN_OR_RETURN(policy_, EarlyStopPolicy::Create(early));
  }

  LlamaLoadOptions load;
  if (config_.method == TrainMethod::kQlora) {
    load.quantize = config_.double_quant ? Nf4Statistics::kDoubleQuant : Nf4Statistics::kFp32Absmax;
  }
  if (config_.method == TrainMethod::kLora && config_.device == TrainDevice::kCuda && !hf.quantization.has_value()) {
    // DESIGN.md's GPU numerics: the frozen base in bf16 (half the bytes, tensor-core products), the adapter and its
    // optimiser state in fp32.
    load.bf16_projections = true;
    Note("device cuda: the frozen base projections are held in bf16");
  }
  if (hf.quantization.has_value()) {
    // A bitsandbytes 4-bit base (ftctl model quantize): its codes are the base weights, so only qlora trains on
    // it, with the statistics it was written with.
    if (config_.method != TrainMethod::kQlora) {
      return absl::InvalidArgumentError(absl::StrCat("base_model: ", config_.base_model,
                                                     " is NF4-quantised (config.json quantization_config); method ",
                                                     TrainMethodName(config_.method), " needs fp32 weights: use "
                                                     "method qlora, or the unquantised model"));
    }
    if (hf.quantization->double_quant != config_.double_quant) {
      Note(absl::StrCat("base_model is quantised with bnb_4bit_use_double_quant ",
                        hf.quantization->double_quant ? "true" : "false", ": its stored codes are used"));
    }
  }
  ASSIGN_OR_RETURN_CONTEXT(model_, LlamaModel::Load(hf, options_.backend, load), "base_model");
  model_->set_recompute_activations(config_.gradient_checkpointing);
  const LlamaConfig model_config = hf.config;
  hf = HfModel();  // The weights are on the backend now: unmap the files.
  if (TrainsAdapter(config_.method)) {
    LoraConfig lora = config_.lora;
    lora.base_model_name_or_path = config_.base_model;
    ASSIGN_OR_RETURN(adapter_, InitLoraAdapter(lora, model_config, config_.seed));
    RETURN_IF_ERROR(model_->AttachLora(adapter_));
  }
  ASSIGN_OR_RETURN(grads_, model_->NewGradients(TrainsAdapter(config_.method) ? TrainMode::kLora : TrainMode::kFull));
  model_config_ = model_config;
  adapter_params_ = TrainsAdapter(config_.method) ? grads_->flat_size() : 0;
  ResolvePeakFlops();
  AdamWOptions adamw;
  adamw.weight_decay = config_.weight_decay;
  adamw.max_grad_norm = config_.max_grad_norm;
  ASSIGN_OR_RETURN(optimizer_, AdamWOptimizer::Create(*model_, *grads_, adamw));
  schedule_.kind = config_.lr_scheduler;
  schedule_.peak_lr = config_.learning_rate;
  schedule_.warmup_steps = config_.warmup_steps;
  schedule_.total_steps = plan_.total_steps;
  ASSIGN_OR_RETURN(schedule_, CheckLrSchedule(schedule_));
  fingerprint_ = TrainRunFingerprint(config_, summary_.examples, world_);
  Note(absl::StrCat(summary_.examples, " examples (", validation_.size(), " held out for validation), ",
                    plan_.micro_batches_per_epoch, " micro-batches of up to ", config_.micro_batch_size,
                    " an epoch, ", plan_.steps_per_epoch, " steps an epoch, ", plan_.total_steps, " steps, ",
                    grads_->names().size(), " trained tensors"));
  return absl::OkStatus();
}

// MFU's denominator: the figure the run was given, else the backend's nominal one; said once either way.
void TrainingRun::ResolvePeakFlops() {
  if (options_.peak_flops > 0) {
    peak_flops_ = options_.peak_flops;
    Note(absl::StrFormat("MFU against the given peak of %.4g TFLOP/s", options_.peak_flops / 1e12));
    return;
  }
  absl::StatusOr<NominalPeakFlops> peak = options_.backend->PeakFlops();
  if (!peak.ok() || peak->flops_per_second <= 0) {
    Note(absl::StrCat("MFU not reported: ", peak.ok() ? "the backend's peak FLOP/s is 0" : peak.status().message(),
                      " (give the device's peak with --peak-flops)"));
    return;
  }
  peak_flops_ = peak->flops_per_second;
  Note(absl::StrFormat("MFU against a nominal peak of %.4g TFLOP/s: %s", peak->flops_per_second / 1e12,
                       peak->basis));
}

// Rank 0 continues from the latest checkpoint that reads back intact and sends the state to the other ranks.
absl::Status TrainingRun::Resume() {
  if (rank_ == 0 && options_.checkpoints != nullptr) {
    CheckpointStore& store = *options_.checkpoints;
    ASSIGN_OR_RETURN(const int64_t orphans, store.RemoveOrphans());
    if (orphans > 0) Note(absl::StrCat("removed ", orphans, " incomplete checkpoint(s) left by an interrupted run"));
    ASSIGN_OR_RETURN(std::vector<std::string> names, store.ListCommitted());
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
      absl::StatusOr<TrainCheckpointMeta> meta =
          LoadTrainCheckpoint(store, *it, *model_, grads_->names(), *optimizer_, fingerprint_);
      if (meta.status().code() == absl::StatusCode::kDataLoss) {
        // Useless now, and in the way of the checkpoint this run will write at that step again.
        Note(absl::StrCat("checkpoint ", *it, " is damaged (", meta.status().message(),
                          "): deleted; trying the one before"));
        RETURN_IF_ERROR_CONTEXT(store.Delete(*it), absl::StrCat("deleting damaged checkpoint ", *it));
        continue;
      }
      RETURN_IF_ERROR(meta.status());
      progress_ = meta->progress;
      summary_.evals = meta->evals;
      resumed_ = true;
      Note(absl::StrCat("resumed from checkpoint ", *it, " (step ", progress_.step, " of ", plan_.total_steps, ")"));
      break;
    }
  }
  if (world_ > 1) RETURN_IF_ERROR_CONTEXT(ShareResumedState(), "sending the resumed state to every rank");
  summary_.resumed_from_step = progress_.step;
  if (resumed_) last_saved_step_ = progress_.step;
  for (const EvalPoint& e : summary_.evals) {
    if (policy_.has_value()) RETURN_IF_ERROR(policy_->Observe(e).status());
  }
  return absl::OkStatus();
}

// Broadcasts rank 0's progress, evals, trained weights and optimizer state (when it resumed) as raw bits: the
// collectives' broadcast copies bytes, so int64 and double values travel exactly as float pairs.
absl::Status TrainingRun::ShareResumedState() {
  Collective& collective = *options_.collective;
  const absl::Duration timeout = options_.collective_timeout;
  int64_t header[7] = {progress_.step,       progress_.epoch,    progress_.next_micro, progress_.micro_done,
                       optimizer_->steps(), static_cast<int64_t>(summary_.evals.size()), resumed_ ? 1 : 0};
  Backend& backend = *options_.backend;
  RETURN_IF_ERROR(BroadcastHost(collective, backend, reinterpret_cast<float*>(header), 2 * 7, 0, timeout));
  if (header[6] == 0) return absl::OkStatus();  // Rank 0 starts afresh: so does everyone.
  resumed_ = true;
  std::vector<double> evals(static_cast<size_t>(3 * header[5]));
  for (size_t i = 0; i < summary_.evals.size() && rank_ == 0; ++i) {
    evals[3 * i] = static_cast<double>(summary_.evals[i].step);
    evals[3 * i + 1] = summary_.evals[i].task_val_loss;
    evals[3 * i + 2] = summary_.evals[i].general_ppl;
  }
  RETURN_IF_ERROR(BroadcastHost(collective, backend, reinterpret_cast<float*>(evals.data()),
                                static_cast<int64_t>(2 * evals.size()), 0, timeout));
  RETURN_IF_ERROR(backend.Synchronize());  // The resumed weights and moments are on the device before they travel.
  const auto moments = optimizer_->moment_buffers();
  for (const std::string& name : grads_->names()) {
    ASSIGN_OR_RETURN(DeviceBuffer * param, model_->Parameter(name));
    const AdamWOptimizer::MomentBuffers& m = moments.at(name);
    RETURN_IF_ERROR(collective.Broadcast(param->data(), param->size(), 0, timeout));
    RETURN_IF_ERROR(collective.Broadcast(m.exp_avg, m.elements, 0, timeout));
    RETURN_IF_ERROR(collective.Broadcast(m.exp_avg_sq, m.elements, 0, timeout));
  }
  if (rank_ != 0) {
    progress_ = TrainProgress{header[0], header[1], header[2], header[3]};
    optimizer_->set_steps(header[4]);
    summary_.evals.clear();
    for (size_t i = 0; i < evals.size(); i += 3) {
      summary_.evals.push_back(EvalPoint{static_cast<int64_t>(evals[i]), evals[i + 1], evals[i + 2]});
    }
  }
  return absl::OkStatus();
}

absl::Status TrainingRun::TrainStep() {
  const auto start = std::chrono::steady_clock::now();
  if (progress_.next_micro == plan_.micro_batches_per_epoch) {
    ++progress_.epoch;
    progress_.next_micro = 0;
    order_ = EpochOrder(units_.count(), config_.seed, progress_.epoch);
  }
  const int64_t per_step = config_.gradient_accumulation_steps * world_;
  const StepShare share = StepMicroBatches(units_, order_, config_.micro_batch_size, per_step,
                                           plan_.micro_batches_per_epoch, rank_, world_, progress_.next_micro);
  const int64_t step = progress_.step;
  TrainStepLog log;
  log.data_seconds = SecondsSince(start);
  log.step = step + 1;
  log.total_steps = plan_.total_steps;
  log.epoch = progress_.epoch;
  log.targets = share.targets;
  for (size_t j = 0; j < share.mine.size(); ++j) {
    const MicroBatch& mb = share.mine[j];
    // LoRA dropout draws from the micro-batch's global index, so masks do not depend on the world size.
    model_->SetLoraDropoutRng(
        LoraDropoutRng{config_.seed, static_cast<uint64_t>(progress_.micro_done + share.mine_index[j])});
    // Each micro-batch's loss is its summed token loss over the global step's target count, so the gradients add
    // up (over micro-batches and ranks) to that of the step's mean token loss (transformers' num_items_in_batch).
    const LlamaPacking packing{mb.position_ids, mb.segment_ids};
    ASSIGN_OR_RETURN_CONTEXT(float loss,
                             model_->ForwardBackward(mb.ids, mb.labels, mb.batch, mb.seq, &*grads_, share.targets,
                                                     mb.packed() ? &packing : nullptr),
                             absl::StrCat("step ", step + 1));
    log.loss += loss;
    log.tokens += mb.tokens;
    log.model_flops += static_cast<double>(mb.tokens) *
                       static_cast<double>(TrainingFlopsPerToken(model_config_, adapter_params_,
                                                                 !TrainsAdapter(config_.method), mb.seq));
  }
  progress_.micro_done += share.micro_batches;
  if (world_ > 1) {
    const auto reduce_start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR_CONTEXT(ReduceAcrossRanks(*options_.collective, *options_.backend, options_.collective_timeout,
                                              *grads_, log),
                            absl::StrCat("step ", step + 1));
    log.allreduce_seconds = SecondsSince(reduce_start);
  }
  log.lr = LearningRate(schedule_, step);
  ASSIGN_OR_RETURN_CONTEXT(log.grad_norm, optimizer_->Step(*model_, *grads_, log.lr),
                           absl::StrCat("step ", step + 1, " (loss ", log.loss, ")"));
  RETURN_IF_ERROR(grads_->Zero());
  progress_.step = step + 1;
  log.seconds = SecondsSince(start);
  if (peak_flops_.has_value() && log.seconds > 0) log.mfu = log.model_flops / log.seconds / *peak_flops_;
  if (absl::StatusOr<DeviceMemoryStats> memory = options_.backend->MemoryStats(); memory.ok()) {
    log.device_memory_peak_bytes = memory->peak_allocated_bytes;
  }
  summary_.final_loss = log.loss;
  if (options_.on_step) options_.on_step(log);
  Note(Describe(log));
  return absl::OkStatus();
}

// Task validation loss and general perplexity at the current step; feeds the early-stop policy and checkpoints a
// new best so that an early stop can return to it.
absl::Status TrainingRun::Evaluate() {
  const std::string at = absl::StrCat("eval at step ", progress_.step);
  EvalPoint point;
  point.step = progress_.step;
  ASSIGN_OR_RETURN_CONTEXT(NllSum task, TaskValidationNll(*model_, validation_, config_.micro_batch_size, pad_id_,
                                                          rank_, world_), at);
  RETURN_IF_ERROR_CONTEXT(SumAcrossRanks(options_.collective, *options_.backend, options_.collective_timeout, task),
                          at);
  point.task_val_loss = task.tokens > 0 ? task.nll / static_cast<double>(task.tokens) : std::nan("");
  NllSum general;
  if (general_.has_value()) {
    ASSIGN_OR_RETURN_CONTEXT(general, GeneralNll(*model_, *general_, rank_, world_), at);
    RETURN_IF_ERROR_CONTEXT(
        SumAcrossRanks(options_.collective, *options_.backend, options_.collective_timeout, general), at);
  }
  point.general_ppl = general.tokens > 0 ? std::exp(general.nll / static_cast<double>(general.tokens)) : std::nan("");
  summary_.evals.push_back(point);
  std::string verdict;
  if (policy_.has_value()) {
    const std::optional<EvalPoint> best_before = policy_->best();
    RETURN_IF_ERROR_CONTEXT(policy_->Observe(point).status(), at);
    verdict = absl::StrFormat(" (limit %.4f, %d over in a row)", *policy_->limit(), policy_->consecutive_over());
    const std::optional<EvalPoint> best = policy_->best();
    if (best.has_value() && best->step == point.step && (!best_before || best_before->step != point.step)) {
      if (last_saved_step_ == progress_.step) {
        // Saved at this step before the eval (save_steps): the same checkpoint is the best one now.
        if (rank_ == 0 && options_.checkpoints != nullptr && options_.on_checkpoint) {
          options_.on_checkpoint(TrainCheckpointName(progress_.step), progress_.step, /*best=*/true);
        }
      } else {
        RETURN_IF_ERROR_CONTEXT(Save(), absl::StrCat("checkpointing the best eval at step ", point.step));
      }
    }
  }
  Note(absl::StrFormat("eval step %d: task val loss %.6f, general ppl %.4f%s", point.step, point.task_val_loss,
                       point.general_ppl, verdict));
  if (options_.on_eval) {
    options_.on_eval(TrainEvalLog{point, policy_.has_value() ? policy_->limit() : std::nullopt});
  }
  return absl::OkStatus();
}

// Checkpoints the current step (rank 0 writes; the others have the same state), then prunes.
absl::Status TrainingRun::Save() {
  if (options_.checkpoints == nullptr || last_saved_step_ == progress_.step) return absl::OkStatus();
  last_saved_step_ = progress_.step;
  if (rank_ != 0) return absl::OkStatus();
  TrainCheckpointMeta meta;
  meta.progress = progress_;
  meta.world_size = world_;
  meta.evals = summary_.evals;
  RETURN_IF_ERROR_CONTEXT(
      SaveTrainCheckpoint(*options_.checkpoints, *model_, grads_->names(), *optimizer_, meta, fingerprint_),
      absl::StrCat("saving checkpoint ", TrainCheckpointName(progress_.step)));
  std::set<std::string> keep;
  const bool best = policy_.has_value() && policy_->best().has_value() && policy_->best()->step == progress_.step;
  if (policy_.has_value() && policy_->best().has_value()) keep.insert(TrainCheckpointName(policy_->best()->step));
  RETURN_IF_ERROR(PruneCheckpoints(*options_.checkpoints, config_.save_total_limit, keep));
  if (options_.on_checkpoint) options_.on_checkpoint(TrainCheckpointName(progress_.step), progress_.step, best);
  return absl::OkStatus();
}

absl::Status TrainingRun::Export() {
  if (rank_ != 0) return absl::OkStatus();  // Every rank holds the same weights; rank 0 writes them.
  if (summary_.early_stopped) {
    // The result of a stopped run is its best eval's checkpoint.
    const std::string name = TrainCheckpointName(summary_.best->step);
    RETURN_IF_ERROR_CONTEXT(
        LoadTrainCheckpoint(*options_.checkpoints, name, *model_, grads_->names(), *optimizer_, fingerprint_)
            .status(),
        "loading the best checkpoint");
    Note(absl::StrCat("early stop: general perplexity stayed over the limit; the result is checkpoint ", name,
                      " (task val loss ", summary_.best->task_val_loss, ", general ppl ",
                      summary_.best->general_ppl, ")"));
  }
  if (TrainsAdapter(config_.method)) {
    RETURN_IF_ERROR_CONTEXT(WriteTrainedAdapter(*model_, adapter_, options_.output_dir), "writing the adapter");
  } else {
    RETURN_IF_ERROR_CONTEXT(WriteTrainedModel(*model_, config_.base_model, options_.output_dir), "writing the model");
  }
  Note(absl::StrCat("wrote ", TrainsAdapter(config_.method) ? "the PEFT adapter" : "the model", " to ",
                    options_.output_dir));
  return absl::OkStatus();
}

absl::StatusOr<TrainSummary> TrainingRun::Run() {
  RETURN_IF_ERROR(Setup());
  RETURN_IF_ERROR(Resume());
  order_ = EpochOrder(units_.count(), config_.seed, progress_.epoch);
  const bool evaluates = policy_.has_value() || !validation_.empty();
  if (evaluates && progress_.step == 0 && summary_.evals.empty()) RETURN_IF_ERROR(Evaluate());  // The baseline.
  while (progress_.step < plan_.total_steps && !(policy_.has_value() && policy_->stopped())) {
    RETURN_IF_ERROR(TrainStep());
    if (evaluates && progress_.step % config_.eval_steps == 0) RETURN_IF_ERROR(Evaluate());
    if (policy_.has_value() && policy_->stopped()) break;
    if (progress_.step % config_.save_steps == 0 || progress_.step == plan_.total_steps) RETURN_IF_ERROR(Save());
  }
  summary_.steps = progress_.step;
  if (policy_.has_value() && policy_->stopped()) {
    summary_.early_stopped = true;
    summary_.best = policy_->best();
    if (!summary_.best.has_value()) {
      return absl::FailedPreconditionError(
          "early stop: general perplexity stayed over the limit and no eval was within it (not even step 0's)");
    }
  }
  RETURN_IF_ERROR(Export());
  return summary_;
}

}  // namespace

absl::StatusOr<TrainSummary> RunTraining(const TrainConfig& config, const TrainRunOptions& options) {
  TrainingRun run(config, options);
  return run.Run();
}

}  // namespace ftd
