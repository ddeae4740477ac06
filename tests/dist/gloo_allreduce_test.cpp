// Two processes, one TCPStore, c10d's ProcessGroupGloo from the wheel: an all-reduce must sum.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
#include <unistd.h>

namespace {

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Returns the all-reduced tensor of this rank.
torch::Tensor all_reduce(int rank, int world, uint16_t port) {
  c10d::TCPStoreOptions opts;
  opts.port = port;
  opts.isServer = rank == 0;
  opts.numWorkers = world;
  opts.timeout = std::chrono::seconds(30);
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", opts);
  auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(30));
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
  std::vector<torch::Tensor> tensors{torch::arange(1000, torch::kFloat) * (rank + 1)};
  pg->allreduce(tensors)->wait();
  return tensors[0];
}

}  // namespace

TEST(Gloo, TwoProcessAllReduceSums) {
  uint16_t port = free_port();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  torch::Tensor expected = torch::arange(1000, torch::kFloat) * 3;
  if (child == 0) {
    bool ok = torch::equal(all_reduce(1, 2, port), expected);
    ::_exit(ok ? 0 : 1);
  }
  torch::Tensor got = all_reduce(0, 2, port);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(torch::equal(got, expected)) << "rank 0 max abs diff " << (got - expected).abs().max().item<float>();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "rank 1 saw a wrong sum or failed";
}
