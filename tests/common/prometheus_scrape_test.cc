// A real Prometheus scrapes our HttpServer: Prometheus runs as a child process with a 1 s scrape interval aimed at
// the server's ephemeral port, and its query API must return our values (a counter, before and after an update,
// a labelled gauge and a histogram's count and bucket) with the target healthy. Both sides bind port 0: the
// Prometheus port is read back from /proc. Skips with a message where the prometheus binary is absent.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http/http_server.h"
#include "common/metrics/text_registry.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/find_program.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using std::chrono::steady_clock;

// Bounds every wait on Prometheus (start-up, first scrape, the next one): generous, a normal run needs ~3 s.
constexpr std::chrono::seconds kWait(30);
constexpr std::chrono::milliseconds kPollInterval(100);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `done` every kPollInterval until it returns true or kWait passes. There is no event to wait on: Prometheus
// is another process that scrapes on its own clock.
bool PollUntil(const std::function<bool()>& done) {
  const steady_clock::time_point deadline = steady_clock::now() + kWait;
  while (steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(kPollInterval);
  }
  return done();
}

// The TCP ports process `pid` listens on (IPv4 and IPv6): its socket inodes from /proc/PID/fd matched against
// the LISTEN rows (state 0A) of /proc/PID/net/tcp{,6}.
std::set<int> ListeningPorts(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
  if (DIR* dir = ::opendir(fd_dir.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      char target[256];
      const std::string link = absl::StrCat(fd_dir, "/", entry->d_name);
      const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      absl::string_view text(target, static_cast<size_t>(n));
      if (absl::ConsumePrefix(&text, "socket:[")) {
        inodes.insert(std::string(text.substr(0, text.size() - 1)));
      }
    }
    ::closedir(dir);
  }
  std::set<int> ports;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/net/", table));
    std::string line;
    std::getline(in, line);  // Header.
    while (std::getline(in, line)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
      const std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (fields.size() < 10 || fields[3] != "0A" || inodes.count(fields[9]) == 0) continue;
      const std::vector<std::string> local = absl::StrSplit(fields[1], ':');
      int port = 0;
      if (local.size() == 2 && absl::SimpleHexAtoi(local[1], &port)) ports.insert(port);
    }
  }
  return ports;
}

// The Prometheus child: SIGTERM on destruction (SIGKILL if it lingers), so a failed assertion never leaks it.
class PrometheusProcess {
 public:
  PrometheusProcess(const std::string& binary, const TempDir& dir)
      : stderr_path_(dir.file("prometheus.err")),
        pid_(SpawnCommand({binary, absl::StrCat("--config.file=", dir.file("prometheus.yml")),
                           absl::StrCat("--storage.tsdb.path=", dir.file("tsdb")),
                           "--web.listen-address=127.0.0.1:0", "--log.level=warn"},
                          dir.file("prometheus.out"), stderr_path_)) {}
  ~PrometheusProcess() {
    if (pid_ <= 0 || exited_) return;
    ::kill(pid_, SIGTERM);
    const steady_clock::time_point deadline = steady_clock::now() + std::chrono::seconds(10);
    while (steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  PrometheusProcess(const PrometheusProcess&) = delete;
  PrometheusProcess& operator=(const PrometheusProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Exited() {
    if (!exited_ && ::waitpid(pid_, nullptr, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  std::string Log() const { return ReadFile(stderr_path_); }

 private:
  const std::string stderr_path_;
  const pid_t pid_;
  bool exited_ = false;
};

// The value of the single series `query` selects, or nullopt while Prometheus has none (or is not answering);
// `last_response` keeps what it said, for failure messages.
std::optional<std::string> InstantValue(httplib::Client& client, const std::string& query,
                                        std::string* last_response = nullptr) {
  httplib::Result result = client.Get("/api/v1/query", httplib::Params{{"query", query}}, httplib::Headers{});
  if (last_response != nullptr) {
    *last_response = result ? absl::StrCat("HTTP ", result->status, ": ", result->body)
                            : absl::StrCat("no response: ", httplib::to_string(result.error()));
  }
  if (!result || result->status != 200) return std::nullopt;
  const nlohmann::json body = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || body.value("status", "") != "success") return std::nullopt;
  const nlohmann::json& series = body["data"]["result"];
  if (!series.is_array() || series.size() != 1) return std::nullopt;
  return series[0]["value"][1].get<std::string>();  // [unix time, "value"]
}

TEST(PrometheusScrapeTest, PrometheusScrapesOurEndpoint) {
  const std::string prometheus = FindProgram("prometheus");
  if (prometheus.empty()) GTEST_SKIP() << "prometheus is not on PATH (Debian package prometheus): not scraped";

  TextMetricsRegistry registry;
  Counter* requests = *(*registry.AddCounter("ftd_test_scrape_requests_total", "Requests.", {"method"}))
                           ->WithLabels({"GET"});
  requests->Increment(42);
  Gauge* memory = *(*registry.AddGauge("ftd_test_scrape_memory_bytes", "Memory.", {"device", "note"}))
                       ->WithLabels({"cpu", "quote \" and \\ backslash"});
  memory->Set(1.5e9);
  Histogram* steps =
      *(*registry.AddHistogram("ftd_test_scrape_step_seconds", "Steps.", {}, {0.5, 1, 2}))->WithLabels({});
  for (double v : {0.25, 0.75, 1.5, 3.0}) steps->Observe(v);

  HttpServerOptions options;
  options.metrics = &registry;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Status started = (*server)->Start();
  ASSERT_TRUE(started.ok()) << started;

  TempDir dir("ftd_prometheus");
  {
    std::ofstream config(dir.file("prometheus.yml"));
    config << "global:\n"
              "  scrape_interval: 1s\n"
              "  scrape_timeout: 1s\n"
              "  evaluation_interval: 1s\n"
              "scrape_configs:\n"
              "  - job_name: ftd_test\n"
              "    static_configs:\n"
              "      - targets: ['127.0.0.1:"
           << (*server)->port() << "']\n";
  }
  PrometheusProcess process(prometheus, dir);
  ASSERT_GT(process.pid(), 0);

  // Prometheus's web port: the one port it listens on (our server's socket is close-on-exec, but leave it out
  // anyway, so a regression there shows in http_server_test rather than as a confusing failure here).
  int web_port = 0;
  ASSERT_TRUE(PollUntil([&] {
    if (process.Exited()) return true;
    std::set<int> ports = ListeningPorts(process.pid());
    ports.erase((*server)->port());
    if (ports.size() == 1) web_port = *ports.begin();
    return web_port != 0;
  })) << "Prometheus did not listen within " << kWait.count() << " s:\n" << process.Log();
  ASSERT_FALSE(process.Exited()) << "Prometheus exited:\n" << process.Log();

  httplib::Client client("127.0.0.1", web_port);
  client.set_connection_timeout(1);
  client.set_read_timeout(5);
  std::optional<std::string> value;
  std::string response;
  const auto appears = [&](const std::string& query, const std::string& want) {
    return PollUntil([&] {
      value = InstantValue(client, query, &response);
      return value == want || process.Exited();
    });
  };

  // The first scrape comes within a scrape interval of Prometheus being ready.
  ASSERT_TRUE(appears("ftd_test_scrape_requests_total{job=\"ftd_test\",method=\"GET\"}", "42"))
      << "last value: " << value.value_or("(none)") << "\nlast response: " << response << "\nPrometheus log:\n"
      << process.Log();
  ASSERT_FALSE(process.Exited()) << "Prometheus exited:\n" << process.Log();
  // Once one sample is in, the whole scrape is: no more waiting for these.
  EXPECT_EQ(InstantValue(client, "up{job=\"ftd_test\"}"), "1");
  EXPECT_EQ(InstantValue(client, "ftd_test_scrape_memory_bytes{device=\"cpu\",note=\"quote \\\" and \\\\ backslash\"}"),
            "1500000000");
  EXPECT_EQ(InstantValue(client, "ftd_test_scrape_step_seconds_count"), "4");
  EXPECT_EQ(InstantValue(client, "ftd_test_scrape_step_seconds_sum"), "5.5");
  EXPECT_EQ(InstantValue(client, "ftd_test_scrape_step_seconds_bucket{le=\"1\"}"), "2");
  EXPECT_EQ(InstantValue(client, "ftd_test_scrape_step_seconds_bucket{le=\"+Inf\"}"), "4");
  EXPECT_EQ(InstantValue(client, "scrape_samples_scraped{job=\"ftd_test\"}"), "8");

  // A later scrape sees the update.
  requests->Increment(8);
  EXPECT_TRUE(appears("ftd_test_scrape_requests_total{method=\"GET\"}", "50"))
      << "last value: " << value.value_or("(none)") << "\nlast response: " << response << "\nPrometheus log:\n"
      << process.Log();

  // The target is healthy, with no scrape error.
  httplib::Result targets = client.Get("/api/v1/targets");
  ASSERT_TRUE(targets);
  const nlohmann::json body = nlohmann::json::parse(targets->body, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(body.is_discarded()) << targets->body;
  const nlohmann::json& active = body["data"]["activeTargets"];
  ASSERT_EQ(active.size(), 1u) << targets->body;
  EXPECT_EQ(active[0].value("health", ""), "up") << targets->body;
  EXPECT_EQ(active[0].value("lastError", "?"), "") << targets->body;
}

}  // namespace
}  // namespace ftd
