// CoordinatorRendezvousStore: RendezvousStore over RendezvousSet/Get/Wait, retrying while the coordinator is away.
#include "worker/service/coordinator_rendezvous_store.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "worker/service/coordinator_connection.h"

namespace ftd {
namespace {

constexpr absl::Duration kCallBudget = absl::Seconds(30);
constexpr absl::Duration kRetryPause = absl::Milliseconds(500);

bool Retryable(const absl::Status& status) { return absl::IsUnavailable(status); }

class CoordinatorRendezvousStore final : public RendezvousStore {
 public:
  CoordinatorRendezvousStore(std::unique_ptr<CoordinatorConnection> connection, CoordinatorRendezvousSpec spec)
      : connection_(std::move(connection)), spec_(std::move(spec)) {}

  absl::Status Set(absl::string_view key, absl::string_view value) override {
    v1::RendezvousSetRequest request;
    request.set_job(spec_.job);
    request.set_attempt(spec_.attempt);
    request.set_key(std::string(key));
    request.set_value(std::string(value));
    return Retry(absl::Now() + kCallBudget, [&](absl::Duration timeout) {
      v1::RendezvousSetResponse response;
      const auto context = connection_->NewContext(timeout);
      return FromGrpc(connection_->stub().RendezvousSet(context.get(), request, &response),
                      absl::StrCat("rendezvous set ", key));
    });
  }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    v1::RendezvousGetRequest request;
    request.set_job(spec_.job);
    request.set_attempt(spec_.attempt);
    request.set_key(std::string(key));
    v1::RendezvousGetResponse response;
    const absl::Status status = Retry(absl::Now() + kCallBudget, [&](absl::Duration timeout) {
      const auto context = connection_->NewContext(timeout);
      return FromGrpc(connection_->stub().RendezvousGet(context.get(), request, &response),
                      absl::StrCat("rendezvous get ", key));
    });
    if (absl::IsNotFound(status)) return std::nullopt;
    if (!status.ok()) return status;
    return std::move(*response.mutable_value());
  }

  absl::StatusOr<std::string> Wait(absl::string_view key, absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    v1::RendezvousWaitResponse response;
    const absl::Status status = Retry(deadline, [&](absl::Duration left) {
      v1::RendezvousWaitRequest request;
      request.set_job(spec_.job);
      request.set_attempt(spec_.attempt);
      request.add_keys(std::string(key));
      request.mutable_timeout()->set_seconds(std::max<int64_t>(1, absl::ToInt64Seconds(left)));
      // The call's deadline a little after the server's own timeout, so the server's message names the key.
      const auto context = connection_->NewContext(left + absl::Seconds(5));
      return FromGrpc(connection_->stub().RendezvousWait(context.get(), request, &response),
                      absl::StrCat("rendezvous wait for ", key));
    });
    if (!status.ok()) return status;
    auto it = response.values().find(std::string(key));
    if (it == response.values().end()) {
      return absl::InternalError(absl::StrCat("rendezvous wait for ", key, ": the answer lacks the key"));
    }
    return it->second;
  }

 private:
  // Runs `call` with the time left until `deadline` until it succeeds or fails for another reason than an
  // unreachable coordinator.
  template <typename Call>
  absl::Status Retry(absl::Time deadline, Call call) {
    while (true) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(
            absl::StrCat("rendezvous of ", spec_.job, " attempt ", spec_.attempt, ": the coordinator at ",
                         spec_.address, " did not answer in time"));
      }
      const absl::Status status = call(left);
      if (!Retryable(status)) return status;
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(std::min(kRetryPause, left)));
    }
  }

  std::unique_ptr<CoordinatorConnection> connection_;
  const CoordinatorRendezvousSpec spec_;
};

}  // namespace

absl::StatusOr<CoordinatorRendezvousSpec> ParseCoordinatorRendezvousSpec(absl::string_view spec) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("--rendezvous ", spec, ": expected coordinator:HOST:PORT/jobs/{job}/{attempt}"));
  };
  absl::string_view rest = spec;
  if (!absl::ConsumePrefix(&rest, "coordinator:")) return bad();
  const size_t slash = rest.find('/');
  const size_t last = rest.rfind('/');
  if (slash == absl::string_view::npos || slash == 0 || last == slash) return bad();
  CoordinatorRendezvousSpec parsed;
  parsed.address = std::string(rest.substr(0, slash));
  parsed.job = std::string(rest.substr(slash + 1, last - slash - 1));
  if (!absl::SimpleAtoi(rest.substr(last + 1), &parsed.attempt) || parsed.attempt < 0 ||
      !absl::StartsWith(parsed.job, "jobs/")) {
    return bad();
  }
  return parsed;
}

absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenCoordinatorRendezvousStore(const CoordinatorRendezvousSpec& spec) {
  absl::StatusOr<std::unique_ptr<CoordinatorConnection>> connection =
      CoordinatorConnection::Create(ConnectionOptionsFromEnvironment(spec.address));
  if (!connection.ok()) return connection.status();
  return std::unique_ptr<RendezvousStore>(new CoordinatorRendezvousStore(*std::move(connection), spec));
}

}  // namespace ftd
