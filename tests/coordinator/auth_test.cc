// Bearer tokens and TLS end to end: the token file parser, then real gRPC servers on 127.0.0.1:0 (the health service,
// a JobService and a WorkerService that answer with the caller's identity) reached through OpenClientChannel, in plain
// text and with TLS certificates made by the openssl CLI at test time.
#include "coordinator/service/auth.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/service_channel/client_channel.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "ftd/v1/worker_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/testing/generic_call.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-token-0123456789";
constexpr char kRootToken[] = "root-token-0123456789ab";
constexpr char kWorkerToken[] = "worker-token-0123456789";

std::shared_ptr<const TokenTable> TestTokens() {
  auto table = std::make_shared<TokenTable>();
  table->entries.push_back({kAliceToken, "alice", TokenRole::kUser});
  table->entries.push_back({kRootToken, "root", TokenRole::kAdmin});
  table->entries.push_back({kWorkerToken, "worker-1", TokenRole::kWorker});
  return table;
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// ---------------------------------------------------------------------------------------------------------------
// The token file.

TEST(LoadTokenFileTest, ReadsUsersRolesCommentsAndBlankLines) {
  TempDir dir("auth_test");
  const std::string path = dir.file("tokens");
  WriteFile(path, absl::StrCat("# ftd tokens\n\n", kAliceToken, " alice\n  ", kRootToken, "\troot  admin\n",
                               kWorkerToken, " worker-1 worker\n"));
  absl::StatusOr<TokenTable> table = LoadTokenFile(path);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->entries.size(), 3u);
  EXPECT_TRUE(table->warnings.empty());
  ASSERT_NE(table->Find(kAliceToken), nullptr);
  EXPECT_EQ(table->Find(kAliceToken)->user, "alice");
  EXPECT_EQ(table->Find(kAliceToken)->role, TokenRole::kUser);
  EXPECT_EQ(table->Find(kRootToken)->role, TokenRole::kAdmin);
  EXPECT_EQ(table->Find(kWorkerToken)->role, TokenRole::kWorker);
  EXPECT_EQ(table->Find("alice-token-012345678"), nullptr);  // A prefix is not the token.
  EXPECT_EQ(table->Find(""), nullptr);
}

TEST(LoadTokenFileTest, WarnsWhenOthersMayReadIt) {
  TempDir dir("auth_test");
  const std::string path = dir.file("tokens");
  WriteFile(path, absl::StrCat(kAliceToken, " alice\n"), 0644);
  absl::StatusOr<TokenTable> table = LoadTokenFile(path);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->warnings.size(), 1u);
  EXPECT_THAT(table->warnings[0], HasSubstr("mode 0644"));
  EXPECT_THAT(table->warnings[0], HasSubstr("chmod 600"));
}

struct BadFile {
  std::string text;
  std::string message;  // After "PATH".
};

class LoadTokenFileErrorTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(LoadTokenFileErrorTest, NamesFileAndLineAndNeverTheToken) {
  TempDir dir("auth_test");
  const std::string path = dir.file("tokens");
  WriteFile(path, GetParam().text);
  absl::Status status = LoadTokenFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), absl::StrCat(path, GetParam().message));
  EXPECT_THAT(status.message(), Not(HasSubstr(kAliceToken)));
  EXPECT_THAT(status.message(), Not(HasSubstr("shorttoken")));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, LoadTokenFileErrorTest,
    ::testing::Values(
        BadFile{absl::StrCat("# c\n", kAliceToken, "\n"), ":2: want \"TOKEN USER [admin|worker]\", got 1 field"},
        BadFile{absl::StrCat(kAliceToken, " alice admin extra\n"),
                ":1: want \"TOKEN USER [admin|worker]\", got 4 fields"},
        BadFile{"shorttoken alice\n", ":1: token is 10 characters, want at least 16"},
        BadFile{absl::StrCat(kAliceToken, " alice\n\n", kAliceToken, " bob\n"), ":3: duplicate token (first on line 1)"},
        BadFile{absl::StrCat(kAliceToken, " alice root\n"),
                ":1: unknown role \"root\" (want admin or worker, or nothing for a user)"},
        BadFile{absl::StrCat(kAliceToken, " al/ice\n"), ":1: user \"al/ice\": want letters, digits and . _ @ - only"},
        BadFile{"# only comments\n\n", ": no tokens (want lines \"TOKEN USER [admin|worker]\")"}));

TEST(LoadTokenFileTest, MissingFileIsNotFoundNamingIt) {
  const absl::Status status = LoadTokenFile("/nonexistent/ftd/tokens").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/ftd/tokens"));
}

// ---------------------------------------------------------------------------------------------------------------
// Servers.

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

// Answers GetJob with the caller's identity: user in Job.user, "admin|worker" flags in Job.name.
class IdentityJobService final : public v1::JobService::Service {
 public:
  explicit IdentityJobService(const TokenTable* tokens) : tokens_(tokens) {}

  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* /*request*/, v1::Job* job) override {
    const absl::StatusOr<CallerIdentity> identity = IdentityOf(*context, tokens_);
    if (!identity.ok()) {
      return grpc::Status(static_cast<grpc::StatusCode>(identity.status().code()),
                          std::string(identity.status().message()));
    }
    job->set_user(identity->user);
    job->set_name(absl::StrCat(identity->admin ? "admin" : "-", "|", identity->worker ? "worker" : "-"));
    return grpc::Status::OK;
  }

 private:
  const TokenTable* tokens_;
};

class IdentityWorkerService final : public v1::WorkerService::Service {
 public:
  grpc::Status Heartbeat(grpc::ServerContext* /*context*/, const v1::HeartbeatRequest* /*request*/,
                         v1::HeartbeatResponse* /*response*/) override {
    return grpc::Status::OK;
  }
};

class TestServer {
 public:
  TestServer(std::shared_ptr<grpc::ServerCredentials> credentials, const TokenTable* tokens) : jobs_(tokens) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port_);
    builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
    builder.RegisterService(&jobs_);
    builder.RegisterService(&workers_);
    server_ = builder.BuildAndStart();
  }
  ~TestServer() {
    if (server_ != nullptr) server_->Shutdown(Deadline());
  }

  bool ok() const { return server_ != nullptr && port_ != 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  IdentityJobService jobs_;
  IdentityWorkerService workers_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

grpc::Status CallGetJob(const std::shared_ptr<grpc::Channel>& channel, v1::Job* job,
                        const std::string& per_call_token = "") {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  AddAuth(context, per_call_token);
  v1::GetJobRequest request;
  request.set_name("jobs/ft-000001");
  return v1::JobService::NewStub(channel)->GetJob(&context, request, job);
}

grpc::Status CallHeartbeat(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::HeartbeatResponse response;
  return v1::WorkerService::NewStub(channel)->Heartbeat(&context, v1::HeartbeatRequest(), &response);
}

// A unary call by method path with an empty request (the health and reflection protos are not installed by
// Debian's gRPC). `response_bytes` gets the response's wire bytes.
grpc::Status GenericCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         std::string* response_bytes) {
  return GenericUnaryCall(channel, method, "", response_bytes);
}

ClientChannelOptions Client(const std::string& address, const std::string& token = "", const std::string& ca = "",
                            const std::string& client_cert = "", const std::string& client_key = "") {
  ClientChannelOptions options;
  options.address = address;
  options.token = token;
  options.ca_cert_path = ca;
  options.client_cert_path = client_cert;
  options.client_key_path = client_key;
  return options;
}

ServerTlsOptions ServerTls(const std::string& cert, const std::string& key, const std::string& client_ca = "") {
  ServerTlsOptions options;
  options.cert_path = cert;
  options.key_path = key;
  options.client_ca_path = client_ca;
  return options;
}

std::shared_ptr<grpc::Channel> Open(ClientChannelOptions options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenClientChannel(options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

class PlainTextAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(ServerTlsOptions{}, tokens_);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    server_ = std::make_unique<TestServer>(*credentials, tokens_.get());
    ASSERT_TRUE(server_->ok());
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& token) {
    return Open(Client(server_->address(), token));
  }

  std::shared_ptr<const TokenTable> tokens_ = TestTokens();
  std::unique_ptr<TestServer> server_;
};

TEST_F(PlainTextAuthTest, NoTokenIsUnauthenticated) {
  v1::Job job;
  const grpc::Status status = CallGetJob(Channel(""), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("missing token"));
}

TEST_F(PlainTextAuthTest, UnknownTokenIsUnauthenticatedWithoutEchoingIt) {
  v1::Job job;
  const grpc::Status status = CallGetJob(Channel("not-a-token-0123456789"), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "unknown token");
}

TEST_F(PlainTextAuthTest, MalformedHeaderIsUnauthenticated) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  context.AddMetadata("authorization", absl::StrCat("Basic ", kAliceToken));
  v1::Job job;
  const grpc::Status status =
      v1::JobService::NewStub(Channel(""))->GetJob(&context, v1::GetJobRequest(), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("malformed authorization header"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr(kAliceToken)));
}

TEST_F(PlainTextAuthTest, GoodTokenIdentifiesTheCaller) {
  v1::Job job;
  const grpc::Status status = CallGetJob(Channel(kAliceToken), &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.user(), "alice");
  EXPECT_EQ(job.name(), "-|-");

  ASSERT_TRUE(CallGetJob(Channel(kRootToken), &job).ok());
  EXPECT_EQ(job.user(), "root");
  EXPECT_EQ(job.name(), "admin|worker");
}

// The processor's properties belong to the call, not the connection: two users on one channel each see themselves.
TEST_F(PlainTextAuthTest, IdentityIsPerCallOnASharedConnection) {
  std::shared_ptr<grpc::Channel> channel = Channel("");
  for (int i = 0; i < 3; ++i) {
    v1::Job job;
    ASSERT_TRUE(CallGetJob(channel, &job, kAliceToken).ok());
    EXPECT_EQ(job.user(), "alice");
    EXPECT_EQ(job.name(), "-|-");
    ASSERT_TRUE(CallGetJob(channel, &job, kRootToken).ok());
    EXPECT_EQ(job.user(), "root");
    EXPECT_EQ(job.name(), "admin|worker");
    EXPECT_EQ(CallGetJob(channel, &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

// The same with calls in flight at once on one connection (HTTP/2 multiplexing).
TEST_F(PlainTextAuthTest, ConcurrentCallersOnOneConnectionKeepTheirIdentities) {
  std::shared_ptr<grpc::Channel> channel = Channel("");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&channel, &wrong, t] {
      const bool admin = t % 2 == 0;
      for (int i = 0; i < 25; ++i) {
        v1::Job job;
        const grpc::Status status = CallGetJob(channel, &job, admin ? kRootToken : kAliceToken);
        if (!status.ok() || job.user() != (admin ? "root" : "alice")) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A service given the table on a server built without the processor still refuses unknown callers.
TEST(IdentityOfTest, FailsClosedWithoutTheProcessor) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(ServerTlsOptions{});
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  const std::shared_ptr<const TokenTable> tokens = TestTokens();
  TestServer server(*credentials, tokens.get());
  ASSERT_TRUE(server.ok());
  v1::Job job;
  EXPECT_EQ(CallGetJob(Open(Client(server.address())), &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallGetJob(Open(Client(server.address(), "not-a-token-0123456789")), &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(CallGetJob(Open(Client(server.address(), kAliceToken)), &job).ok());
  EXPECT_EQ(job.user(), "alice");
}

TEST_F(PlainTextAuthTest, RolesGateTheWorkerService) {
  v1::Job job;
  EXPECT_TRUE(CallHeartbeat(Channel(kWorkerToken)).ok());
  EXPECT_TRUE(CallHeartbeat(Channel(kRootToken)).ok());
  const grpc::Status user_on_workers = CallHeartbeat(Channel(kAliceToken));
  EXPECT_EQ(user_on_workers.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(user_on_workers.error_message(), HasSubstr("needs a worker or admin token"));
  const grpc::Status worker_on_jobs = CallGetJob(Channel(kWorkerToken), &job);
  EXPECT_EQ(worker_on_jobs.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(worker_on_jobs.error_message(), HasSubstr("/ftd.v1.JobService/GetJob"));
  EXPECT_EQ(CallHeartbeat(Channel("")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(PlainTextAuthTest, HealthAndReflectionNeedNoToken) {
  std::string response;
  const grpc::Status health = GenericCall(Channel(""), "/grpc.health.v1.Health/Check", &response);
  ASSERT_TRUE(health.ok()) << health.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2)) << "HealthCheckResponse{status: SERVING}";
  // Reflection is not registered here: UNIMPLEMENTED, not UNAUTHENTICATED, shows the processor let it through.
  EXPECT_EQ(
      GenericCall(Channel(""), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &response)
          .error_code(),
      grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(PlainTextAuthTest, RequestsOverTheLimitAreRefused) {
  ClientChannelOptions options = Client(server_->address(), kAliceToken);
  options.max_message_bytes = 4 * kMaxRequestBytes;
  std::shared_ptr<grpc::Channel> channel = Open(options);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::GetJobRequest request;
  request.set_name(std::string(kMaxRequestBytes + 1, 'x'));
  v1::Job job;
  EXPECT_EQ(v1::JobService::NewStub(channel)->GetJob(&context, request, &job).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // With the default client limit the client refuses it before sending.
  grpc::ClientContext default_context;
  default_context.set_deadline(Deadline());
  EXPECT_EQ(v1::JobService::NewStub(Channel(kAliceToken))->GetJob(&default_context, request, &job).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(NoTokensTest, EveryCallerIsAnonymousAdmin) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(ServerTlsOptions{});
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  TestServer server(*credentials, nullptr);
  ASSERT_TRUE(server.ok());
  v1::Job job;
  ASSERT_TRUE(CallGetJob(Open(Client(server.address())), &job).ok());
  EXPECT_EQ(job.user(), "anonymous");
  EXPECT_EQ(job.name(), "admin|worker");
  ASSERT_TRUE(CallGetJob(Open(Client(server.address(), "any-token-at-all-0123")), &job).ok());  // Not looked at.
  EXPECT_EQ(job.user(), "anonymous");
  EXPECT_TRUE(CallHeartbeat(Open(Client(server.address()))).ok());
}

// What gRPC 1.51 does with call credentials on a plain-text channel, the reason OpenClientChannel uses an
// interceptor there: the composite credentials cannot be built on insecure channel credentials.
TEST(GrpcBehaviourTest, PlainTextChannelsRefuseCallCredentials) {
  class Plugin final : public grpc::MetadataCredentialsPlugin {
   public:
    grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                             std::multimap<grpc::string, grpc::string>*) override {
      return grpc::Status::OK;
    }
  };
  EXPECT_EQ(grpc::CompositeChannelCredentials(grpc::InsecureChannelCredentials(),
                                              grpc::MetadataCredentialsFromPlugin(std::make_unique<Plugin>())),
            nullptr);
}

// And why MakeServerCredentials does not use InsecureServerCredentials with tokens: it aborts the process.
TEST(GrpcBehaviourDeathTest, InsecureServerCredentialsCannotTakeAProcessor) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(grpc::InsecureServerCredentials()->SetAuthMetadataProcessor(
                   std::make_shared<BearerTokenProcessor>(TestTokens())),
               "");
}

TEST(OpenClientChannelTest, RefusesBadOptions) {
  EXPECT_EQ(OpenClientChannel({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenClientChannel(Client("127.0.0.1:1", "bad\ntoken")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenClientChannel(Client("127.0.0.1:1", "", "", "/c.pem")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenClientChannel(Client("127.0.0.1:1", "", "", "/c.pem", "/k.pem"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  ClientChannelOptions negative_backoff = Client("127.0.0.1:1");
  negative_backoff.max_reconnect_backoff = absl::Seconds(-1);
  EXPECT_EQ(OpenClientChannel(negative_backoff).status().code(), absl::StatusCode::kInvalidArgument);
  const absl::Status missing_ca = OpenClientChannel(Client("127.0.0.1:1", "", "/no/ca.pem")).status();
  EXPECT_EQ(missing_ca.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing_ca.message(), HasSubstr("/no/ca.pem"));
}

// ---------------------------------------------------------------------------------------------------------------
// TLS, with certificates the openssl CLI makes in a temp directory.

bool HaveOpenssl() { return std::system("command -v openssl >/dev/null 2>&1") == 0; }

// A self-signed certificate (its own CA) for CN `name`, valid for localhost and 127.0.0.1.
bool MakeSelfSigned(const TempDir& dir, const std::string& name) {
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=", name, " -addext subjectAltName=DNS:localhost,",
      "IP:127.0.0.1 -keyout ", dir.file(name + ".key"), " -out ", dir.file(name + ".pem"), " >", dir.file("openssl.log"),
      " 2>&1");
  return std::system(command.c_str()) == 0;
}

class TlsAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveOpenssl()) GTEST_SKIP() << "the openssl CLI is not installed: cannot make test certificates";
    ASSERT_TRUE(MakeSelfSigned(dir_, "server"));
    ASSERT_TRUE(MakeSelfSigned(dir_, "worker"));
  }

  ServerTlsOptions Tls() const { return ServerTls(dir_.file("server.pem"), dir_.file("server.key")); }

  std::unique_ptr<TestServer> Start(const ServerTlsOptions& tls) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(tls, tokens_);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    if (!credentials.ok()) return nullptr;
    auto server = std::make_unique<TestServer>(*credentials, tokens_.get());
    EXPECT_TRUE(server->ok());
    return server;
  }

  TempDir dir_{"auth_tls_test"};
  std::shared_ptr<const TokenTable> tokens_ = TestTokens();
};

TEST_F(TlsAuthTest, TokenOverTlsIsAccepted) {
  std::unique_ptr<TestServer> server = Start(Tls());
  ASSERT_NE(server, nullptr);
  v1::Job job;
  const grpc::Status status = CallGetJob(
      Open(Client(server->address(), kAliceToken, dir_.file("server.pem"))), &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.user(), "alice");
  EXPECT_EQ(job.name(), "-|-");

  EXPECT_EQ(CallGetJob(Open(Client(server->address(), "", dir_.file("server.pem"))), &job)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  std::string response;
  EXPECT_TRUE(GenericCall(Open(Client(server->address(), "", dir_.file("server.pem"))),
                          "/grpc.health.v1.Health/Check", &response)
                  .ok());
}

TEST_F(TlsAuthTest, PlainTextClientCannotTalkToATlsServer) {
  std::unique_ptr<TestServer> server = Start(Tls());
  ASSERT_NE(server, nullptr);
  v1::Job job;
  EXPECT_EQ(CallGetJob(Open(Client(server->address(), kAliceToken)), &job).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsAuthTest, ServerCertificateMustMatchTheCa) {
  std::unique_ptr<TestServer> server = Start(Tls());
  ASSERT_NE(server, nullptr);
  v1::Job job;
  // The worker's certificate did not sign the server's.
  EXPECT_EQ(CallGetJob(Open(Client(server->address(), kAliceToken, dir_.file("worker.pem"))),
                       &job)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsAuthTest, ClientCertificatesAreVerifiedWhenPresentedAndOptionalOtherwise) {
  ServerTlsOptions tls = Tls();
  tls.client_ca_path = dir_.file("worker.pem");
  std::unique_ptr<TestServer> server = Start(tls);
  ASSERT_NE(server, nullptr);
  const std::string ca = dir_.file("server.pem");
  // A worker with a certificate the client CA signed.
  const grpc::Status worker = CallHeartbeat(Open(Client(server->address(), kWorkerToken, ca, dir_.file("worker.pem"), dir_.file("worker.key"))));
  EXPECT_TRUE(worker.ok()) << worker.error_message();
  // A user without one.
  v1::Job job;
  const grpc::Status user =
      CallGetJob(Open(Client(server->address(), kAliceToken, ca)), &job);
  EXPECT_TRUE(user.ok()) << user.error_message();
  // A certificate the client CA did not sign fails the handshake.
  EXPECT_EQ(CallHeartbeat(Open(Client(server->address(), kWorkerToken, ca, dir_.file("server.pem"), dir_.file("server.key"))))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsAuthTest, MakeServerCredentialsNamesTheBadOption) {
  const std::string cert = dir_.file("server.pem");
  const std::string key = dir_.file("server.key");
  EXPECT_EQ(MakeServerCredentials(ServerTls(cert, "")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeServerCredentials(ServerTls("", key)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeServerCredentials(ServerTls("", "", cert)).status().code(), absl::StatusCode::kInvalidArgument);
  const absl::Status missing = MakeServerCredentials(ServerTls(dir_.file("nope.pem"), key)).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr(absl::StrCat("tls cert ", dir_.file("nope.pem"))));
  const absl::Status swapped = MakeServerCredentials(ServerTls(key, cert)).status();
  EXPECT_EQ(swapped.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(swapped.message(), HasSubstr(absl::StrCat("tls cert ", key, ": not a PEM certificate")));
}

}  // namespace
}  // namespace ftd
