#include "gateway/http/connection_limiter.h"

#include <optional>
#include <utility>

namespace berth::gateway {

std::string ClientKey(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_string();
  boost::asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  boost::asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  for (size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::move(other.limiter_);
    client_ = std::move(other.client_);
  }
  return *this;
}

void ConnectionLimiter::Slot::Release() {
  if (limiter_ == nullptr) return;
  std::shared_ptr<ConnectionLimiter> limiter = std::move(limiter_);
  limiter_ = nullptr;
  limiter->Release(client_);
}

bool ConnectionLimiter::Admit(const boost::asio::ip::address& client, Slot* slot) {
  std::string key = ClientKey(client);
  std::optional<ConnectionObserver::Refusal> refusal;
  {
    absl::MutexLock lock(&mu_);
    int& of_client = per_client_[key];
    if (max_total_ > 0 && open_ >= max_total_) {
      refusal = ConnectionObserver::Refusal::kMaxConnections;
    } else if (max_per_client_ > 0 && of_client >= max_per_client_) {
      refusal = ConnectionObserver::Refusal::kMaxConnectionsPerClient;
    } else {
      ++open_;
      ++of_client;
    }
    if (refusal.has_value() && of_client == 0) per_client_.erase(key);
  }
  if (refusal.has_value()) {
    if (observer_ != nullptr) observer_->ConnectionRefused(*refusal);
    return false;
  }
  if (observer_ != nullptr) observer_->ConnectionOpened();
  *slot = Slot(shared_from_this(), std::move(key));
  return true;
}

int ConnectionLimiter::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

void ConnectionLimiter::Release(const std::string& client) {
  {
    absl::MutexLock lock(&mu_);
    --open_;
    auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
  }
  if (observer_ != nullptr) observer_->ConnectionClosed();
}

}  // namespace berth::gateway
