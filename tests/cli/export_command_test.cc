// ftctl export and ftctl workers against the coordinator's real JobService (temp CoordinatorStore, 127.0.0.1:0):
// the command functions (files, output directory rules, CRC32C and sha256 mismatches from a lying server) and the
// ftctl binary's flags.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/export_command.h"
#include "cli/job_client.h"
#include "cli/worker_commands.h"
#include "common/checkpoint/checkpoint_io.h"
#include "coordinator/service/artifact_export.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_service.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/to_grpc.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/run_ftctl.h"
#include "nlohmann/json.hpp"
#include "tests/proto/local_server.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kJobName[] = "jobs/ft-000001";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A JobService whose DownloadArtifact streams the real artifact through `tamper` first: a server that lies.
class TamperingJobService final : public v1::JobService::Service {
 public:
  TamperingJobService(CoordinatorStore& store, std::string scratch,
                      std::function<void(v1::DownloadArtifactResponse&)> tamper)
      : store_(store), scratch_(std::move(scratch)), tamper_(std::move(tamper)) {}

  grpc::Status DownloadArtifact(grpc::ServerContext*, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    absl::StatusOr<v1::Job> job = store_.GetJob("ft-000001");
    if (!job.ok()) return ToGrpc(job.status());
    return ToGrpc(StreamArtifact(store_, *job, *request, scratch_, [&](const v1::DownloadArtifactResponse& message) {
      v1::DownloadArtifactResponse copy = message;
      tamper_(copy);
      return writer->Write(copy);
    }));
  }

 private:
  CoordinatorStore& store_;
  const std::string scratch_;
  const std::function<void(v1::DownloadArtifactResponse&)> tamper_;
};

class ExportCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(tmp_.file("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);

    v1::Job job;
    job.set_name(kJobName);
    job.mutable_resolved_spec()->set_method(v1::METHOD_LORA);
    job.mutable_resolved_spec()->set_base_model("/models/tiny");
    std::vector<v1::JobEvent> events;
    RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "Submitted", "", clock_.Now());
    RecordStateChange(job, events, v1::JOB_STATE_RUNNING, "Placed", "", clock_.Now());
    ASSERT_TRUE(store_->CreateJob(job, events).ok());

    JobServiceOptions options;
    options.scratch_dir = tmp_.file("scratch");
    options.list_workers = [this]() -> absl::StatusOr<std::vector<v1::WorkerInfo>> { return workers_; };
    absl::StatusOr<std::unique_ptr<CoordinatorJobService>> service =
        CoordinatorJobService::Create(*store_, events_, [this] { return clock_.Now(); }, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_.port);
    client_ = MakeClient(address_);
  }

  void TearDown() override {
    events_.Shutdown();
    if (server_.server != nullptr) server_.server->Shutdown();
  }

  static std::unique_ptr<JobClient> MakeClient(const std::string& address) {
    ConnectionOptions options;
    options.server = address;
    options.timeout = absl::Seconds(20);
    absl::StatusOr<std::unique_ptr<JobClient>> client = JobClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // The job's final result: a (pretend) adapter of 300 KiB, so it spans several stream chunks.
  void WriteFinal() {
    std::string weights(300 << 10, '\0');
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>((i * 131) >> 3);
    files_ = {{"adapter_config.json", R"({"r": 8})"},
              {"adapter_model.safetensors", weights},
              {"provenance.json", R"({"seed": 1})"},
              {"result.json", "{}"}};
    absl::StatusOr<std::unique_ptr<CheckpointStore>> checkpoints = store_->Checkpoints("ft-000001");
    ASSERT_TRUE(checkpoints.ok());
    absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(checkpoints->get(), "final");
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const auto& [name, bytes] : files_) ASSERT_TRUE(writer->AddFile(name, bytes).ok());
    ASSERT_TRUE(writer->Commit(30, "{}").ok());
  }

  std::map<std::string, std::string> ReadDir(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
      if (entry.is_regular_file()) files[entry.path().lexically_relative(dir).string()] = ReadAll(entry.path());
    }
    return files;
  }

  FakeClock clock_;
  TempDir tmp_{"ftd_export_command"};
  std::unique_ptr<CoordinatorStore> store_;
  JobEvents events_;
  std::vector<v1::WorkerInfo> workers_;
  std::unique_ptr<CoordinatorJobService> service_;
  LocalServer server_;
  std::string address_;
  std::unique_ptr<JobClient> client_;
  std::map<std::string, std::string> files_;
};

TEST_F(ExportCommandTest, AdapterLandsInTheDirectory) {
  WriteFinal();
  ExportOptions options;
  options.job = "ft-000001";
  options.dir = tmp_.file("out");
  options.chunk_size_bytes = 64 << 10;
  std::ostringstream out;
  const absl::Status status = JobExport(*client_, options, OutputFormat::kTable, out);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(ReadDir(options.dir), files_);
  EXPECT_FALSE(fs::exists(options.dir + ".partial"));
  EXPECT_THAT(out.str(), HasSubstr("adapter_model.safetensors\n"));
  EXPECT_THAT(out.str(), HasSubstr(absl::StrCat("exported 4 files, ", 8 + (300 << 10) + 11 + 2,
                                                " bytes from jobs/ft-000001/checkpoints/final to ", options.dir)));
}

TEST_F(ExportCommandTest, JsonPrintsTheManifest) {
  WriteFinal();
  ExportOptions options;
  options.job = kJobName;
  options.dir = tmp_.file("empty");
  fs::create_directory(options.dir);  // An empty directory is fine.
  std::ostringstream out;
  const absl::Status status = JobExport(*client_, options, OutputFormat::kJson, out);
  ASSERT_TRUE(status.ok()) << status;
  const nlohmann::json manifest = nlohmann::json::parse(out.str());
  EXPECT_EQ(manifest["kind"], "ARTIFACT_KIND_ADAPTER");
  EXPECT_EQ(manifest["suggestedDirectory"], "ft-000001-adapter");
  EXPECT_EQ(manifest["files"].size(), 4u);
  EXPECT_EQ(manifest["files"][0]["path"], "adapter_config.json");
  EXPECT_EQ(ReadDir(options.dir), files_);
}

TEST_F(ExportCommandTest, RefusesANonEmptyDirectory) {
  WriteFinal();
  ExportOptions options;
  options.job = "ft-000001";
  options.dir = tmp_.file("taken");
  fs::create_directory(options.dir);
  std::ofstream(options.dir + "/keep.txt") << "mine";
  std::ostringstream out;
  const absl::Status status = JobExport(*client_, options, OutputFormat::kTable, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr(options.dir));
  EXPECT_EQ(ReadAll(options.dir + "/keep.txt"), "mine");
}

TEST_F(ExportCommandTest, ServerErrorsNameTheJobAndLeaveNothing) {
  ExportOptions options;
  options.job = "ft-000001";
  options.dir = tmp_.file("out");
  std::ostringstream out;
  const absl::Status status = JobExport(*client_, options, OutputFormat::kTable, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("job jobs/ft-000001 has no final result yet (state RUNNING)"));
  EXPECT_FALSE(fs::exists(options.dir));
  EXPECT_FALSE(fs::exists(options.dir + ".partial"));
}

TEST_F(ExportCommandTest, DetectsSha256AndCrcMismatches) {
  WriteFinal();
  struct Case {
    std::string name;
    std::function<void(v1::DownloadArtifactResponse&)> tamper;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"wrong sha256",
       [](v1::DownloadArtifactResponse& m) {
         if (m.has_manifest()) m.mutable_manifest()->mutable_files(1)->set_sha256(std::string(64, '0'));
       },
       "\"adapter_model.safetensors\": sha256 mismatch"},
      {"bad chunk",
       [](v1::DownloadArtifactResponse& m) {
         if (m.has_chunk() && m.chunk().file_index() == 1 && m.chunk().offset() > 0) {
           (*m.mutable_chunk()->mutable_data())[0] ^= 1;
         }
       },
       "CRC32C mismatch"},
      {"short file",
       [](v1::DownloadArtifactResponse& m) {
         if (m.has_manifest()) {
           m.mutable_manifest()->mutable_files(0)->set_size_bytes(100);
           m.mutable_manifest()->set_total_size_bytes(m.manifest().total_size_bytes() + 100 - 8);
         }
       },
       "\"adapter_config.json\": received 8 of its 100 bytes"},
      {"escaping path",
       [](v1::DownloadArtifactResponse& m) {
         if (m.has_manifest()) m.mutable_manifest()->mutable_files(0)->set_path("../evil.json");
       },
       "not a relative path inside the download"},
  };
  for (const Case& c : cases) {
    TamperingJobService liar(*store_, tmp_.file("scratch"), c.tamper);
    absl::StatusOr<LocalServer> server = StartLocalServer(&liar);
    ASSERT_TRUE(server.ok()) << server.status();
    std::unique_ptr<JobClient> client = MakeClient(absl::StrCat("127.0.0.1:", server->port));
    ExportOptions options;
    options.job = "ft-000001";
    options.kind = v1::ARTIFACT_KIND_ADAPTER;  // This fake serves DownloadArtifact only (no GetJob for the default).
    options.dir = tmp_.file("lied");
    options.chunk_size_bytes = 64 << 10;
    std::ostringstream out;
    const absl::Status status = JobExport(*client, options, OutputFormat::kTable, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << c.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(c.expected)) << c.name;
    EXPECT_FALSE(fs::exists(options.dir)) << c.name;
    EXPECT_FALSE(fs::exists(options.dir + ".partial")) << c.name;
    EXPECT_FALSE(fs::exists(tmp_.file("evil.json"))) << c.name;
    server->server->Shutdown();
  }
}

TEST_F(ExportCommandTest, WorkersTable) {
  v1::WorkerInfo gpu;
  gpu.set_name("workers/w-1");
  gpu.mutable_registration()->set_host("gpu-node-3");
  gpu.mutable_registration()->set_version("0.1.0");
  v1::GpuDevice& device = *gpu.mutable_registration()->add_gpus();
  device.set_index(0);
  device.set_name("NVIDIA H200");
  device.set_memory_bytes(int64_t{141} << 30);
  *gpu.mutable_lease_expire_time() = ToProtoTime(clock_.Now() + absl::Seconds(25));
  for (int rank : {0, 1}) {
    v1::WorkerRank& r = *gpu.add_ranks();
    r.set_job(kJobName);
    r.set_rank(rank);
    r.set_device("cuda:0");
  }
  v1::WorkerInfo cpu;
  cpu.set_name("workers/w-2");
  cpu.mutable_registration()->set_host("cpu-box");
  cpu.mutable_registration()->mutable_cpu()->set_cores(16);
  cpu.mutable_registration()->mutable_cpu()->set_memory_bytes(int64_t{64} << 30);
  *cpu.mutable_lease_expire_time() = ToProtoTime(clock_.Now() - absl::Seconds(1));
  workers_ = {cpu, gpu};  // The service sorts by name.

  std::ostringstream table;
  ASSERT_TRUE(WorkersList(*client_, OutputFormat::kTable, clock_.Now(), table).ok());
  EXPECT_EQ(table.str(),
            "NAME         HOST        DEVICES             MEMORY     VERSION  LEASE-LEFT  RANKS\n"
            "workers/w-1  gpu-node-3  cuda:0 NVIDIA H200  141.0 GiB  0.1.0    25s         ft-000001/r0@cuda:0, "
            "ft-000001/r1@cuda:0\n"
            "workers/w-2  cpu-box     cpu (16 cores)      64.0 GiB   -        -           -\n");

  std::ostringstream json;
  ASSERT_TRUE(WorkersList(*client_, OutputFormat::kJson, clock_.Now(), json).ok());
  const nlohmann::json parsed = nlohmann::json::parse(json.str());
  ASSERT_EQ(parsed["workers"].size(), 2u);
  EXPECT_EQ(parsed["workers"][0]["name"], "workers/w-1");
  EXPECT_EQ(parsed["workers"][0]["ranks"][1]["rank"], 1);

  workers_.clear();
  std::ostringstream empty;
  ASSERT_TRUE(WorkersList(*client_, OutputFormat::kTable, clock_.Now(), empty).ok());
  EXPECT_EQ(empty.str(), "NAME  HOST  DEVICES  MEMORY  VERSION  LEASE-LEFT  RANKS\n");
}

// The binary's flags: export's --kind, --checkpoint and -d, and workers; exit 1 with "ftctl: <message>" on errors.
TEST_F(ExportCommandTest, FtctlExportAndWorkersFlags) {
  WriteFinal();
  const auto run = [this](const std::string& args, std::string* out) {
    return RunFtctl(FTCTL_PATH, tmp_.path(), address_, args, out);
  };
  std::string out;
  ASSERT_EQ(run("export ft-000001 -d " + tmp_.file("adapter"), &out), 0) << out;
  EXPECT_EQ(ReadDir(tmp_.file("adapter")), files_);

  out.clear();
  EXPECT_EQ(run("export ft-000001 --kind merged --dir " + tmp_.file("merged"), &out), 1);
  // /models/tiny does not exist here: the merge fails on the server, named.
  EXPECT_THAT(out, HasSubstr("ftctl: exporting jobs/ft-000001: merging the final adapter of job jobs/ft-000001"));

  out.clear();
  EXPECT_EQ(run("export ft-000001 --checkpoint step-00000010 -d " + tmp_.file("ckpt"), &out), 1);
  EXPECT_THAT(out, HasSubstr("checkpoint jobs/ft-000001/checkpoints/step-00000010 not found"));

  out.clear();
  EXPECT_EQ(run("export ft-000001 --kind bogus -d " + tmp_.file("x"), &out), 1) << out;
  out.clear();
  EXPECT_NE(run("export ft-000001", &out), 0) << out;  // -d is required.

  out.clear();
  ASSERT_EQ(run("workers -o json", &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json::object());  // No workers: an empty response.
}

}  // namespace
}  // namespace ftd
