#pragma once
// The rendezvous store of cluster launches (torchrun / mpiexec / srun): a c10d::Store over TCP
// whose server listens on the one address the user names (MASTER_ADDR, or PARPLAN_STORE_BIND to
// override), never on every interface — LibTorch 1.13's c10d::TCPStore binds *:PORT and cannot be
// told otherwise. A client must first present the run's secret (PARPLAN_RUN_SECRET) when one is
// set; a connection that does not is closed. Local runs use a FileStore (comm.cpp), no socket.
//
// Protocol: frames of [u32 length][payload], little-endian; a request is an op byte and
// length-prefixed fields, a reply a status byte and fields. get/wait poll `check` on the client.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace parplan::runtime {

class StoreServerThread;  // tcp_store.cpp

class BoundTcpStore : public c10d::Store {
 public:
  // host_server: this process (rank 0) runs the server, bound to `bind_addr`:`port`; every process
  // then connects to `addr`:`port`. Throws parplan::EnvironmentError (port in use, unreachable,
  // refused secret) naming the address and the cause.
  BoundTcpStore(const std::string& addr, int port, bool host_server, const std::string& bind_addr,
                const std::string& secret, std::chrono::milliseconds timeout);
  ~BoundTcpStore() override;

  void set(const std::string& key, const std::vector<uint8_t>& value) override;
  std::vector<uint8_t> compareSet(const std::string& key, const std::vector<uint8_t>& expected,
                                  const std::vector<uint8_t>& desired) override;
  std::vector<uint8_t> get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t value) override;
  bool deleteKey(const std::string& key) override;
  bool check(const std::vector<std::string>& keys) override;
  int64_t getNumKeys() override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

 private:
  std::string request(const std::string& payload);
  std::unique_ptr<StoreServerThread> server_;
  int fd_ = -1;
  std::string where_;
  std::mutex mu_;
};

}  // namespace parplan::runtime
