#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <exception>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace berth::common {
namespace {

// Threads of the HTTP server: a scrape every few seconds needs no more.
constexpr char kServerThreads[] = "2";
// How often a stopping HTTP server is woken (see ~Metrics).
constexpr absl::Duration kWakeInterval = absl::Milliseconds(20);

absl::StatusOr<sockaddr_in> ParseListen(const std::string& value) {
  auto bad = [&value](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen=", value, ": ", why,
                     " (want IPV4:PORT, e.g. 127.0.0.1:9741, or empty for no metrics)"));
  };
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  const std::string host = value.substr(0, colon);
  sockaddr_in parsed{};
  parsed.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &parsed.sin_addr) != 1) {
    return bad(absl::StrCat("\"", host, "\" is not an IPv4 address"));
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return bad("the port must be a number in 1-65535");
  }
  parsed.sin_port = htons(static_cast<uint16_t>(port));
  return parsed;
}

// Whether a listening socket can be bound at `address`, with the errno's words when not: the
// HTTP server says only that it failed.
absl::Status CheckCanListen(const std::string& value, const sockaddr_in& address) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(
        ErrnoMessage(absl::StrCat("--metrics_listen=", value, ": socket"), errno));
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  absl::Status status;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) !=
      0) {
    status = absl::UnavailableError(
        ErrnoMessage(absl::StrCat("--metrics_listen=", value, ": cannot listen there"), errno));
  }
  close(fd);
  return status;
}

// Connects to `address` and hangs up, waiting for the connection at most kWakeInterval (a
// firewall that drops the packets must not hold the caller), then sleeps out the interval.
void WakeOnce(const sockaddr_in& address) {
  const absl::Time until = absl::Now() + kWakeInterval;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
        errno == EINPROGRESS) {
      pollfd connecting{fd, POLLOUT, 0};
      poll(&connecting, 1, static_cast<int>(absl::ToInt64Milliseconds(kWakeInterval)));
    }
    close(fd);
  }
  absl::SleepFor(until - absl::Now());
}

}  // namespace

// What the Exposer collects: the owner's Collect(). The owner outlives the Exposer.
class Metrics::Collector : public prometheus::Collectable {
 public:
  explicit Collector(const Metrics* owner) : owner_(owner) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return owner_->Collect(); }

 private:
  const Metrics* const owner_;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      collector_(std::make_shared<Collector>(this)) {}

Metrics::~Metrics() {
  absl::MutexLock lock(&exposer_mu_);
  if (exposer_ == nullptr) return;
  // The HTTP server notices that it is to stop only when its wait for connections ends, every
  // 2 s: connections made meanwhile end that wait at once.
  sockaddr_in wake = served_;
  if (wake.sin_addr.s_addr == htonl(INADDR_ANY)) wake.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::atomic<bool> stopped{false};
  std::thread waker([&wake, &stopped] {
    while (!stopped.load()) WakeOnce(wake);
  });
  exposer_.reset();
  stopped = true;
  waker.join();
}

absl::Status ValidateMetricsListen(const std::string& value) {
  if (value.empty()) return absl::OkStatus();
  return ParseListen(value).status();
}

absl::Status Metrics::Serve(const std::string& listen) {
  if (listen.empty()) return absl::OkStatus();
  absl::StatusOr<sockaddr_in> address = ParseListen(listen);
  if (!address.ok()) return address.status();
  absl::MutexLock lock(&exposer_mu_);
  if (exposer_ != nullptr) return absl::FailedPreconditionError("metrics are served already");
  if (absl::Status can = CheckCanListen(listen, *address); !can.ok()) return can;
  // prometheus-cpp reports failures (its HTTP server's) by exceptions; none leaves here.
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", listen, "num_threads", kServerThreads});
    exposer_->RegisterCollectable(collector_);
    served_ = *address;
  } catch (const std::exception& error) {
    exposer_.reset();
    return absl::UnavailableError(
        absl::StrCat("--metrics_listen=", listen, ": cannot serve metrics: ", error.what()));
  }
  return absl::OkStatus();
}

int Metrics::port() const {
  absl::MutexLock lock(&exposer_mu_);
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  {
    absl::MutexLock lock(&hooks_mu_);
    for (const auto& [id, update] : hooks_) update();
  }
  return registry_->Collect();
}

std::string Metrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

Metrics::ScrapeHook Metrics::OnScrape(std::function<void()> update) {
  absl::MutexLock lock(&hooks_mu_);
  const uint64_t id = next_hook_id_++;
  hooks_.emplace(id, std::move(update));
  return ScrapeHook(this, id);
}

void Metrics::RemoveHook(uint64_t id) {
  absl::MutexLock lock(&hooks_mu_);
  hooks_.erase(id);
}

Metrics::ScrapeHook::ScrapeHook(ScrapeHook&& other) noexcept
    : metrics_(std::exchange(other.metrics_, nullptr)), id_(other.id_) {}

Metrics::ScrapeHook& Metrics::ScrapeHook::operator=(ScrapeHook&& other) noexcept {
  if (this != &other) {
    Reset();
    metrics_ = std::exchange(other.metrics_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void Metrics::ScrapeHook::Reset() {
  if (metrics_ != nullptr) metrics_->RemoveHook(id_);
  metrics_ = nullptr;
}

}  // namespace berth::common
