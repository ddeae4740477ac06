#include "medvqa/dist/process_group.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <mutex>
#include <thread>

#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {
namespace {

// How long the survivors of a failed collective wait for each other to check in through the store.
constexpr std::chrono::seconds kProbeWindow{3};

std::string alive_key(int rank) { return "medvqa/alive/" + std::to_string(rank); }

std::string describe(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;  // tensors on the rank's device: NCCL on CUDA, else `host`
  c10::intrusive_ptr<c10d::Backend> host;     // host values (counts, flags, strings, RNG states): Gloo
  bool nccl = false;
  std::mutex started_mutex;  // started collectives come from autograd's threads too
  std::vector<c10::intrusive_ptr<c10d::Work>> started;
};

ProcessGroup::ProcessGroup(const DistEnv& env, const c10::Device& device, std::chrono::seconds timeout)
    : env_(env), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  if (!distributed()) return;
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  // Under torchrun's agent the store already listens on MASTER_PORT: every rank is its client.
  so.isServer = env.rank == 0 && !env.agent_store;
  so.numWorkers = env.world_size;
  so.timeout = timeout;
  try {
    c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    // A restarted group of workers meets an agent store that still holds the last attempt's keys.
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), tcp);
  } catch (const std::exception& e) {
    MEDVQA_FAIL("dist: rank ", env.rank, ": rendezvous at ", env.master_addr, ":", env.master_port, " (MASTER_ADDR:MASTER_PORT",
                env.agent_store ? ", the torchrun agent's store" : "", ") failed",
                env.rank == 0 && !env.agent_store ? " (is the port in use?)" : " (is rank 0 running and reachable?)", ": ",
                describe(e));
  }
  // Host values go through Gloo even beside NCCL (as torch's CPU groups do), so that the per-step
  // totals and the stop flag never wait for the GPU's queue.
  auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
  // Gloo binds to an address its peers can reach: the interface named by GLOO_SOCKET_IFNAME, the
  // loopback for a one-machine job, else this host's name.
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (loopback(env.master_addr))
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  try {
    impl_->host = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", impl_->store),
                                                               env.rank, env.world_size, gloo);
  } catch (const std::exception& e) {
    fail("connecting the Gloo group", e);
  }
  impl_->backend = impl_->host;
  if (device.is_cuda()) {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    impl_->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", impl_->store),
                                                                 env.rank, env.world_size, opts);
    // As init_process_group(device_id=...): the communicator belongs to this rank's GPU.
    impl_->backend->setBoundDeviceId(device);
    impl_->nccl = true;
  }
  log_info("dist: rank ", env.rank, " of ", env.world_size, " (", env.source, ", local rank ", env.local_rank, " of ",
           env.local_world_size, "), ", backend_name(), " on ", device.str(), " via ", env.master_addr, ":", env.master_port,
           env.agent_store ? " (torchrun agent store, attempt " + std::to_string(env.restart_count) + ")" : "", ", timeout ",
           timeout.count(), " s");
}

ProcessGroup::~ProcessGroup() = default;

const char* ProcessGroup::backend_name() const {
  if (!distributed()) return "none";
  return impl_->nccl ? "nccl" : "gloo";
}

void ProcessGroup::fail(const char* what, const std::exception& e) {
  // Find out who is gone: every survivor checks in through the store and waits briefly for the
  // others. If the store itself is unreachable, rank 0 (its host) is gone.
  std::string missing;
  try {
    impl_->store->set(alive_key(env_.rank), std::vector<uint8_t>{1});
    std::this_thread::sleep_for(kProbeWindow);
    for (int r = 0; r < env_.world_size; ++r)
      if (!impl_->store->check({alive_key(r)})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    missing = missing.empty() ? "" : "rank " + missing + " did not answer (exited, killed or stuck)";
  } catch (const std::exception&) {
    missing = "rank 0 (host of the TCPStore) is unreachable (exited or killed)";
  }
  MEDVQA_FAIL("dist: rank ", env_.rank, ": ", what, " failed", missing.empty() ? "" : ": " + missing, " (timeout ",
              timeout_.count(), " s, dist.timeout_s): ", describe(e));
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (!distributed()) return;
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      works.push_back(impl_->backend->broadcast(one, o));
    }
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    fail("broadcast", e);
  }
}

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (!distributed()) return;
  for (const auto& t : tensors) start_all_reduce_sum(t);
  wait_started();
}

void ProcessGroup::start_all_reduce_sum(const at::Tensor& tensor) {
  if (!distributed()) return;
  std::lock_guard<std::mutex> lock(impl_->started_mutex);
  try {
    std::vector<at::Tensor> one{tensor};
    impl_->started.push_back(impl_->backend->allreduce(one));
  } catch (const std::exception& e) {
    fail("all-reduce", e);
  }
}

void ProcessGroup::wait_started() {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  {
    std::lock_guard<std::mutex> lock(impl_->started_mutex);
    works.swap(impl_->started);
  }
  try {
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    fail("all-reduce", e);
  }
}

std::vector<double> ProcessGroup::sum_values(std::vector<double> values) {
  if (!distributed() || values.empty()) return values;
  std::vector<at::Tensor> t{at::tensor(values, at::kDouble)};
  try {
    impl_->host->allreduce(t)->wait();
  } catch (const std::exception& e) {
    fail("all-reduce", e);
  }
  return std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + t[0].numel());
}

std::vector<at::Tensor> ProcessGroup::all_gather(const at::Tensor& tensor) {
  if (!distributed()) return {tensor};
  std::vector<at::Tensor> in{tensor.cpu().contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < env_.world_size; ++r) out[0].push_back(at::empty_like(in[0]));
  try {
    impl_->host->allgather(out, in)->wait();
  } catch (const std::exception& e) {
    fail("all-gather", e);
  }
  return out[0];
}

void ProcessGroup::barrier() {
  if (!distributed()) return;
  try {
    impl_->host->barrier()->wait();
  } catch (const std::exception& e) {
    fail("barrier", e);
  }
}

}  // namespace medvqa
