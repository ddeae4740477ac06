// The launcher environment: torchrun's and SLURM's variables, and errors that name the variable.
#include <gtest/gtest.h>

#include <map>

#include "common/test_util.h"
#include "medvqa/dist/env.h"

using namespace medvqa;
using test_util::error_message;

namespace {

DistEnv parse(const std::map<std::string, std::string>& vars) {
  return read_dist_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) { return error_message([&] { parse(vars); }); }

}  // namespace

TEST(DistEnv, NoLauncherIsOneProcess) {
  DistEnv d = parse({});
  EXPECT_EQ(d.world_size, 1);
  EXPECT_EQ(d.rank, 0);
  EXPECT_EQ(d.source, "");
}

TEST(DistEnv, Torchrun) {
  DistEnv d = parse({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29400"}});
  EXPECT_EQ(d.rank, 3);
  EXPECT_EQ(d.world_size, 4);
  EXPECT_EQ(d.local_rank, 1);
  EXPECT_EQ(d.master_addr, "node0");
  EXPECT_EQ(d.master_port, 29400);
  EXPECT_EQ(d.source, "torchrun");
}

TEST(DistEnv, SlurmWithTheLaunchNodeAndAPortFromTheJobId) {
  DistEnv d = parse({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                     {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"}, {"SLURM_JOB_ID", "123456"}});
  EXPECT_EQ(d.rank, 5);
  EXPECT_EQ(d.world_size, 8);
  EXPECT_EQ(d.local_rank, 1);
  EXPECT_EQ(d.master_addr, "10.0.0.7");
  EXPECT_EQ(d.master_port, 29500 + 456);
  EXPECT_EQ(d.source, "slurm");
  d = parse({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"}, {"MASTER_ADDR", "gpu01"},
             {"MASTER_PORT", "1234"}});
  EXPECT_EQ(d.master_addr, "gpu01");
  EXPECT_EQ(d.master_port, 1234);
}

TEST(DistEnv, BadValuesNameTheVariableTheExpectationAndWhatWasFound) {
  std::map<std::string, std::string> ok{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& k, const std::string& v) {
    auto m = ok;
    m[k] = v;
    return m;
  };
  auto without = [&](const std::string& k) {
    auto m = ok;
    m.erase(k);
    return m;
  };
  EXPECT_NE(error_of(with("RANK", "x")).find("RANK: expected an integer in [0, 2), found 'x'"), std::string::npos);
  EXPECT_NE(error_of(with("RANK", "2")).find("found '2'"), std::string::npos);
  EXPECT_NE(error_of(with("WORLD_SIZE", "0")).find("WORLD_SIZE: expected a positive integer, found '0'"), std::string::npos);
  EXPECT_NE(error_of(without("WORLD_SIZE")).find("WORLD_SIZE: expected a positive integer, found nothing"), std::string::npos);
  EXPECT_NE(error_of(without("MASTER_ADDR")).find("MASTER_ADDR: expected the host name or address of rank 0, found nothing"),
            std::string::npos);
  EXPECT_NE(error_of(with("MASTER_PORT", "70000")).find("MASTER_PORT: expected a TCP port in [1, 65535], found '70000'"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}).find("neither MASTER_ADDR nor SLURM_LAUNCH_NODE_IPADDR"),
            std::string::npos);
}
