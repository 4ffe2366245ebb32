// The trainer's data features end to end on the tiny Llama fixture: packed rows train as the same examples in one
// padded micro-batch do (the same gradient, so the same weights); chat records with a template, rehearsal and
// malformed lines (skipped and named, up to max_bad_line_fraction) flow through a run.
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/peft_adapter.h"
#include "tests/testing/temp_dir.h"
#include "worker/train/trainer.h"

namespace ftd {
namespace {

const std::string kModel = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";

TrainConfig BaseConfig(const std::string& data) {
  TrainConfig c;
  c.base_model = kModel;
  c.datasets = {{data, RecordFormat::kAuto}};
  c.lora.r = 4;
  c.lora.lora_alpha = 8;
  c.lora.all_linear = true;
  c.sequence_len = 96;
  c.learning_rate = 1e-2;
  c.lr_scheduler = LrSchedule::kConstant;
  c.seed = 7;
  return c;
}

struct DataRun {
  absl::StatusOr<TrainSummary> summary;
  std::vector<TrainStepLog> steps;
  std::string notes;
};

DataRun Train(const TrainConfig& config, const std::string& out_dir) {
  DataRun run;
  TrainRunOptions options;
  options.output_dir = out_dir;
  options.backend = *GetBackend("cpu");
  options.on_step = [&](const TrainStepLog& s) { run.steps.push_back(s); };
  options.on_note = [&](const std::string& text) { run.notes += text + "\n"; };
  run.summary = RunTraining(config, options);
  return run;
}

TEST(TrainerDataTest, PackedRowsTrainLikeTheSameExamplesInOnePaddedBatch) {
  TempDir tmp;
  {
    std::ofstream out(tmp.file("data.jsonl"));
    for (int i = 0; i < 6; ++i) out << R"({"text": "short line )" << i << std::string(static_cast<size_t>(i), '!') << "\"}\n";
  }
  // Six short examples fit one 96-token row: one packed row a step vs one micro-batch of all six.
  TrainConfig packed = BaseConfig(tmp.file("data.jsonl"));
  packed.sample_packing = true;
  packed.micro_batch_size = 1;
  packed.max_steps = 4;
  TrainConfig padded = packed;
  padded.sample_packing = false;
  padded.micro_batch_size = 6;
  const DataRun a = Train(packed, tmp.file("packed"));
  const DataRun b = Train(padded, tmp.file("padded"));
  ASSERT_TRUE(a.summary.ok()) << a.summary.status();
  ASSERT_TRUE(b.summary.ok()) << b.summary.status();
  EXPECT_NE(a.notes.find("sample packing: 6 examples in 1 rows"), std::string::npos) << a.notes;
  ASSERT_EQ(a.steps.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(a.steps[i].targets, b.steps[i].targets);
    EXPECT_EQ(a.steps[i].tokens, b.steps[i].tokens);
    EXPECT_NEAR(a.steps[i].loss, b.steps[i].loss, 1e-5 * b.steps[i].loss) << i;
  }
  absl::StatusOr<LoraAdapter> x = ReadLoraAdapter(tmp.file("packed"));
  absl::StatusOr<LoraAdapter> y = ReadLoraAdapter(tmp.file("padded"));
  ASSERT_TRUE(x.ok() && y.ok());
  double max_diff = 0;
  for (const auto& [key, pair] : x->weights) {
    const std::vector<float> bx = *ToF32(pair.b.view()), by = *ToF32(y->weights.at(key).b.view());
    for (size_t i = 0; i < bx.size(); ++i) max_diff = std::max<double>(max_diff, std::abs(bx[i] - by[i]));
  }
  EXPECT_LT(max_diff, 1e-5);  // fp32 summation order differs between a packed row and padded rows.
}

TEST(TrainerDataTest, ChatRehearsalAndMalformedLinesFlowThroughARun) {
  TempDir tmp;
  {
    std::ofstream out(tmp.file("chat.jsonl"));
    for (int i = 0; i < 20; ++i) {
      out << R"({"messages": [{"role": "user", "content": "What is )" << i << R"( plus one?"}, )"
          << R"({"role": "assistant", "content": "It is )" << i + 1 << R"(."}]})" << "\n";
    }
    out << "{not json\n";  // One malformed line of 21: under the 10% allowed below.
    std::ofstream general(tmp.file("general.txt"));
    for (int i = 0; i < 40; ++i) general << "General text keeps the model honest, sentence " << i << ". ";
  }
  TrainConfig c = BaseConfig(tmp.file("chat.jsonl"));
  c.datasets[0].format = RecordFormat::kMessages;
  c.chat_template = *ParseChatTemplate("chatml");
  c.max_bad_line_fraction = 0.1;
  c.rehearsal = TrainRehearsal{tmp.file("general.txt"), 0.2};
  c.micro_batch_size = 4;
  c.num_epochs = 2;
  const DataRun run = Train(c, tmp.file("out"));
  ASSERT_TRUE(run.summary.ok()) << run.summary.status() << "\n" << run.notes;
  EXPECT_NE(run.notes.find("skipped 1 malformed lines of 21"), std::string::npos) << run.notes;
  EXPECT_NE(run.notes.find(tmp.file("chat.jsonl") + ":21: "), std::string::npos) << run.notes;
  // 20 chat examples; rehearsal adds round(0.2 / 0.8 * 20) = 5 general sequences.
  EXPECT_NE(run.notes.find("rehearsal: 5 general-text sequences"), std::string::npos) << run.notes;
  EXPECT_EQ(run.summary->examples, 25);
  EXPECT_LT(run.steps.back().loss, run.steps.front().loss);

  // Past the allowed fraction the run fails with the count.
  c.max_bad_line_fraction = 0.01;
  const DataRun strict = Train(c, tmp.file("strict"));
  ASSERT_FALSE(strict.summary.ok());
  EXPECT_NE(strict.summary.status().message().find("1 of 21 lines are malformed"), absl::string_view::npos)
      << strict.summary.status();
}

}  // namespace
}  // namespace ftd
