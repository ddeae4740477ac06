#include "medvqa/dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {
namespace {

// Seconds beyond the collective timeout before the launcher kills ranks that outlive a failed one.
constexpr double kGraceMarginS = 10;

std::atomic<int> g_signal{0};
extern "C" void on_launcher_signal(int sig) { g_signal = sig; }

}  // namespace

// The port is free again once closed; another process could take it first (torchrun's race too).
int free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  MEDVQA_CHECK(fd >= 0, "launcher: socket: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  MEDVQA_CHECK(ok, "launcher: cannot find a free TCP port on 127.0.0.1: ", std::strerror(errno));
  return ntohs(addr.sin_port);
}

namespace {

// This process's own command line, re-run by every rank (which sees RANK and so does not launch).
std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  for (size_t b = 0, e; b < all.size(); b = e + 1) {
    e = all.find('\0', b);
    if (e == std::string::npos) e = all.size();
    argv.push_back(all.substr(b, e - b));
  }
  return argv;
}

struct Stream {
  int fd = -1;
  int out_fd = 1;  // where its prefixed lines go
  std::string pending;
};

struct Rank {
  pid_t pid = -1;
  Stream out, err;
  bool running = true;
  int code = 0;
};

void write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reads what is available; writes every complete line with the prefix. Returns false at EOF.
bool pump(Stream& s, const std::string& prefix) {
  char buf[4096];
  ssize_t n = ::read(s.fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n > 0) s.pending.append(buf, static_cast<size_t>(n));
  std::string lines;
  for (size_t nl; (nl = s.pending.find('\n')) != std::string::npos; s.pending.erase(0, nl + 1))
    lines += prefix + s.pending.substr(0, nl + 1);
  if (n <= 0 && !s.pending.empty()) lines += prefix + s.pending + "\n", s.pending.clear();
  write_all(s.out_fd, lines);
  if (n > 0) return true;
  ::close(s.fd);
  s.fd = -1;
  return false;
}

pid_t spawn(int rank, int nproc, int port, const std::vector<std::string>& argv, Rank& r) {
  int out[2], err[2];
  MEDVQA_CHECK(::pipe(out) == 0 && ::pipe(err) == 0, "launcher: pipe: ", std::strerror(errno));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  MEDVQA_CHECK(pid >= 0, "launcher: fork: ", std::strerror(errno));
  if (pid == 0) {
    // Own process group: a terminal's Ctrl-C reaches the launcher only, which forwards it once.
    ::setpgid(0, 0);
    // If the launcher dies (even by SIGKILL) the rank gets SIGTERM: no orphans.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    ::setenv("RANK", std::to_string(rank).c_str(), 1);
    ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
    ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv("/proc/self/exe", args.data());
    std::fprintf(stderr, "error: launcher: cannot run /proc/self/exe: %s\n", std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  r.out.fd = out[0];
  r.out.out_fd = 1;
  r.err.fd = err[0];
  r.err.out_fd = 2;
  return pid;
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string how(int status) {
  return WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                           : std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                 strsignal(WTERMSIG(status)) + ")";
}

}  // namespace

int launch_local(int nproc, double grace_s) {
  using clock = std::chrono::steady_clock;
  MEDVQA_CHECK(nproc >= 1, "--nproc-per-node: expected a positive integer, found ", nproc);
  int port = free_local_port();
  auto argv = own_argv();
  struct sigaction sa{};
  sa.sa_handler = on_launcher_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::fflush(nullptr);
  std::vector<Rank> ranks(static_cast<size_t>(nproc));
  for (int k = 0; k < nproc; ++k) ranks[k].pid = spawn(k, nproc, port, argv, ranks[k]);
  log_info("launcher: ", nproc, " ranks on 127.0.0.1:", port);

  int result = 0;
  bool stopping = false;
  clock::time_point kill_at = clock::time_point::max();
  auto stop_others = [&](int sig) {
    for (auto& r : ranks)
      if (r.running) ::kill(r.pid, sig);
  };
  for (;;) {
    if (int sig = g_signal.exchange(0)) {
      log_warn("launcher: signal ", sig, ": forwarding to every rank");
      stop_others(sig);
      stopping = true;  // the ranks checkpoint and exit non-zero: expected, not a failure to act on
    }
    std::vector<pollfd> fds;
    std::vector<std::pair<Stream*, int>> owners;
    for (int k = 0; k < nproc; ++k)
      for (Stream* s : {&ranks[k].out, &ranks[k].err})
        if (s->fd >= 0) {
          fds.push_back({s->fd, POLLIN, 0});
          owners.emplace_back(s, k);
        }
    bool any_running = false;
    for (auto& r : ranks) any_running |= r.running;
    if (fds.empty() && !any_running) break;
    if (!fds.empty() && ::poll(fds.data(), fds.size(), 200) > 0) {
      for (size_t i = 0; i < fds.size(); ++i)
        if (fds[i].revents) pump(*owners[i].first, "[rank " + std::to_string(owners[i].second) + "] ");
    } else if (fds.empty()) {
      ::usleep(100000);
    }
    for (int k = 0; k < nproc; ++k) {
      Rank& r = ranks[k];
      int status = 0;
      if (!r.running || ::waitpid(r.pid, &status, WNOHANG) != r.pid) continue;
      r.running = false;
      r.code = exit_code(status);
      if (r.code == 0) continue;
      if (result == 0) result = r.code;
      if (!stopping) {
        log_error("launcher: rank ", k, " (pid ", r.pid, ") ", how(status), "; stopping the other ranks");
        stopping = true;
        stop_others(SIGTERM);
        kill_at = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(grace_s));
      }
    }
    if (clock::now() >= kill_at) {
      log_error("launcher: ranks still running ", grace_s, " s after SIGTERM; killing them");
      stop_others(SIGKILL);
      kill_at = clock::time_point::max();
    }
  }
  return result;
}

void launch_if_requested(int nproc, double timeout_s) {
  if (nproc <= 1 || std::getenv("RANK") || std::getenv("SLURM_PROCID")) return;
  std::exit(launch_local(nproc, timeout_s + kGraceMarginS));
}

}  // namespace medvqa
