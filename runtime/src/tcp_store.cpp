// BoundTcpStore: server (one thread, poll over the listener and its clients) and client.
#include "tcp_store.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "parplan/model/error.hpp"

namespace parplan::runtime {

namespace {

enum Op : uint8_t { kHello = 1, kSet, kGet, kAdd, kDelete, kCheck, kNumKeys, kCompareSet };
constexpr uint32_t kMaxFrame = 1u << 30;

void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s += char((v >> (8 * i)) & 0xff);
}
void put_field(std::string& s, const std::string& f) {
  put_u32(s, uint32_t(f.size()));
  s += f;
}
std::string as_string(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }
std::vector<uint8_t> as_bytes(const std::string& s) { return {s.begin(), s.end()}; }

// Reads length-prefixed fields from a payload; `ok` turns false on a short or bad payload.
struct Reader {
  const std::string& s;
  size_t at = 1;  // after the op byte
  bool ok = true;
  std::string field() {
    if (at + 4 > s.size()) return ok = false, std::string();
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= uint32_t(uint8_t(s[at + size_t(i)])) << (8 * i);
    at += 4;
    if (at + n > s.size()) return ok = false, std::string();
    std::string f = s.substr(at, n);
    at += n;
    return f;
  }
};

bool write_all(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}
bool read_all(int fd, char* p, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t k = ::recv(fd, p + off, n - off, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    off += size_t(k);
  }
  return true;
}
std::string frame(const std::string& payload) {
  std::string f;
  put_u32(f, uint32_t(payload.size()));
  return f + payload;
}

// getaddrinfo for a TCP address; throws EnvironmentError naming `what`.
addrinfo* resolve(const std::string& host, int port, bool passive, const std::string& what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0)
    throw EnvironmentError(what + ": cannot resolve '" + brief(host) + "': " + gai_strerror(rc) +
                           "; check MASTER_ADDR");
  return res;
}

}  // namespace

class StoreServerThread {
 public:
  StoreServerThread(const std::string& bind_addr, int port, std::string secret)
      : secret_(std::move(secret)) {
    const std::string what = "rank 0: the rendezvous store on " + bind_addr + ":" + std::to_string(port);
    addrinfo* res = resolve(bind_addr, port, true, what);
    int err = 0;
    for (addrinfo* a = res; a && listen_fd_ < 0; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (a->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
        listen_fd_ = fd;
      } else {
        err = errno;
        ::close(fd);
      }
    }
    freeaddrinfo(res);
    if (listen_fd_ < 0) {
      if (err == EADDRINUSE)
        throw EnvironmentError("rank 0: cannot listen on " + bind_addr + ":" + std::to_string(port) +
                               ": the port is already in use (another run or program holds it); "
                               "choose another MASTER_PORT");
      throw EnvironmentError("rank 0: cannot listen on " + bind_addr + ":" + std::to_string(port) +
                             ": " + std::strerror(err) +
                             " (MASTER_ADDR must be an address of rank 0's host)");
    }
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw EnvironmentError("rank 0: pipe failed");
    thread_ = std::thread([this] { loop(); });
  }
  ~StoreServerThread() {
    stop_ = true;
    [[maybe_unused]] ssize_t w = ::write(wake_[1], "x", 1);
    if (thread_.joinable()) thread_.join();
    for (auto& [fd, c] : clients_) ::close(fd);
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

 private:
  struct Client {
    std::string in;
    bool authenticated = false;
    bool close_after_reply = false;
  };

  void loop() {
    while (!stop_) {
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (auto& [fd, c] : clients_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
      if (fds[1].revents & POLLIN) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) clients_[fd] = Client{};
      }
      for (size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
          if (!serve(fds[i].fd)) {
            ::close(fds[i].fd);
            clients_.erase(fds[i].fd);
          }
    }
  }

  // Reads what arrived; answers every complete frame. false: close the connection.
  bool serve(int fd) {
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    auto& c = clients_[fd];
    c.in.append(buf, size_t(n));
    while (c.in.size() >= 4) {
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i) len |= uint32_t(uint8_t(c.in[size_t(i)])) << (8 * i);
      if (len == 0 || len > kMaxFrame) return false;
      if (c.in.size() < 4 + size_t(len)) break;
      std::string payload = c.in.substr(4, len);
      c.in.erase(0, 4 + size_t(len));
      std::string reply;
      if (!answer(c, payload, reply) || !write_all(fd, frame(reply)) || c.close_after_reply) return false;
    }
    return true;
  }

  bool answer(Client& c, const std::string& p, std::string& reply) {
    Reader r{p};
    const uint8_t op = uint8_t(p[0]);
    if (!c.authenticated) {  // the first frame must be the hello with the run's secret
      if (op != kHello) return false;
      if (r.field() != secret_ || !r.ok) {
        reply = std::string(1, '\0');
        c.close_after_reply = true;  // a stranger: say no, then hang up
        return true;
      }
      c.authenticated = true;
      reply = std::string(1, '\1');
      return true;
    }
    reply = std::string(1, '\1');
    switch (op) {
      case kSet: {
        auto k = r.field(), v = r.field();
        if (!r.ok) return false;
        data_[k] = v;
        return true;
      }
      case kGet: {
        auto k = r.field();
        auto it = data_.find(k);
        if (!r.ok) return false;
        if (it == data_.end()) reply = std::string(1, '\0');
        else put_field(reply, it->second);
        return true;
      }
      case kAdd: {
        auto k = r.field(), d = r.field();
        if (!r.ok) return false;
        int64_t v = 0;
        try {
          auto it = data_.find(k);
          v = (it == data_.end() ? 0 : std::stoll(it->second)) + std::stoll(d);
        } catch (const std::exception&) {
          return false;
        }
        data_[k] = std::to_string(v);
        put_field(reply, data_[k]);
        return true;
      }
      case kDelete: {
        auto k = r.field();
        if (!r.ok) return false;
        reply = std::string(1, data_.erase(k) ? '\1' : '\0');
        return true;
      }
      case kCheck: {
        auto n = r.field();
        if (!r.ok) return false;
        bool all = true;
        for (size_t i = 0, count = size_t(std::atoll(n.c_str())); i < count; ++i) {
          auto k = r.field();
          if (!r.ok) return false;
          all = all && data_.count(k);
        }
        reply = std::string(1, all ? '\1' : '\0');
        return true;
      }
      case kNumKeys:
        put_field(reply, std::to_string(data_.size()));
        return true;
      case kCompareSet: {
        auto k = r.field(), expected = r.field(), desired = r.field();
        if (!r.ok) return false;
        auto it = data_.find(k);
        if (it == data_.end() ? expected.empty() : it->second == expected) data_[k] = desired;
        put_field(reply, data_.count(k) ? data_[k] : expected);
        return true;
      }
      default:
        return false;
    }
  }

  std::string secret_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::map<int, Client> clients_;
  std::map<std::string, std::string> data_;
  std::thread thread_;
};

BoundTcpStore::BoundTcpStore(const std::string& addr, int port, bool host_server,
                             const std::string& bind_addr, const std::string& secret,
                             std::chrono::milliseconds timeout)
    : c10d::Store(timeout), where_("the rendezvous store at " + addr + ":" + std::to_string(port)) {
  if (host_server) server_ = std::make_unique<StoreServerThread>(bind_addr, port, secret);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int err = 0;
  while (fd_ < 0) {  // rank 0 may not be listening yet
    addrinfo* res = resolve(addr, port, false, where_);
    for (addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
      } else {
        err = errno;
        ::close(fd);
      }
    }
    freeaddrinfo(res);
    if (fd_ >= 0) break;
    if (std::chrono::steady_clock::now() > deadline)
      throw EnvironmentError("cannot reach " + where_ + ": " + std::strerror(err) +
                             " (is rank 0 running, and are MASTER_ADDR/MASTER_PORT right?)");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string hello(1, char(kHello));
  put_field(hello, secret);
  if (request(hello) != std::string(1, '\1'))
    throw EnvironmentError(where_ + " refused this rank's secret: set the same PARPLAN_RUN_SECRET "
                           "on every node");
}

BoundTcpStore::~BoundTcpStore() {
  if (fd_ >= 0) ::close(fd_);
}

std::string BoundTcpStore::request(const std::string& payload) {
  std::lock_guard<std::mutex> lock(mu_);
  char len[4];
  if (!write_all(fd_, frame(payload)) || !read_all(fd_, len, 4))
    throw EnvironmentError(where_ + ": the connection was lost (rank 0 died?)");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= uint32_t(uint8_t(len[i])) << (8 * i);
  if (n == 0 || n > kMaxFrame) throw EnvironmentError(where_ + ": bad reply");
  std::string reply(n, '\0');
  if (!read_all(fd_, reply.data(), n)) throw EnvironmentError(where_ + ": the connection was lost");
  return reply;
}

void BoundTcpStore::set(const std::string& key, const std::vector<uint8_t>& value) {
  std::string p(1, char(kSet));
  put_field(p, key);
  put_field(p, as_string(value));
  request(p);
}

std::vector<uint8_t> BoundTcpStore::compareSet(const std::string& key, const std::vector<uint8_t>& expected,
                                               const std::vector<uint8_t>& desired) {
  std::string p(1, char(kCompareSet));
  put_field(p, key);
  put_field(p, as_string(expected));
  put_field(p, as_string(desired));
  auto reply = request(p);
  Reader r{reply};
  return as_bytes(r.field());
}

std::vector<uint8_t> BoundTcpStore::get(const std::string& key) {
  wait({key});
  std::string p(1, char(kGet));
  put_field(p, key);
  auto reply = request(p);
  if (reply.empty() || reply[0] == '\0') throw EnvironmentError(where_ + ": key vanished");
  Reader r{reply};
  return as_bytes(r.field());
}

int64_t BoundTcpStore::add(const std::string& key, int64_t value) {
  std::string p(1, char(kAdd));
  put_field(p, key);
  put_field(p, std::to_string(value));
  auto reply = request(p);
  Reader r{reply};
  return std::stoll(r.field());
}

bool BoundTcpStore::deleteKey(const std::string& key) {
  std::string p(1, char(kDelete));
  put_field(p, key);
  return request(p) == std::string(1, '\1');
}

bool BoundTcpStore::check(const std::vector<std::string>& keys) {
  std::string p(1, char(kCheck));
  put_field(p, std::to_string(keys.size()));
  for (const auto& k : keys) put_field(p, k);
  return request(p) == std::string(1, '\1');
}

int64_t BoundTcpStore::getNumKeys() {
  auto reply = request(std::string(1, char(kNumKeys)));
  Reader r{reply};
  return std::stoll(r.field());
}

void BoundTcpStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void BoundTcpStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!check(keys)) {
    if (timeout.count() > 0 && std::chrono::steady_clock::now() > deadline)
      throw EnvironmentError(where_ + ": waiting for '" + brief(keys.empty() ? "" : keys[0]) +
                             "' timed out after " + std::to_string(timeout.count() / 1000.0) +
                             " s (a rank died or never joined)");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace parplan::runtime
