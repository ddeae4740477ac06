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
  EXPECT_NE(error_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}).find("none of MASTER_ADDR, SLURM_STEP_NODELIST"),
            std::string::npos);
  EXPECT_NE(error_of(with("LOCAL_WORLD_SIZE", "3")).find("LOCAL_WORLD_SIZE: expected an integer in [1, WORLD_SIZE], found '3'"),
            std::string::npos);
  EXPECT_NE(error_of(with("TORCHELASTIC_RESTART_COUNT", "-1")).find("TORCHELASTIC_RESTART_COUNT: expected a non-negative"),
            std::string::npos);
}

// srun started from a login node: SLURM_LAUNCH_NODE_IPADDR is the login node, while rank 0 runs on
// the first node of the step. (The old code took the launch node.)
TEST(DistEnv, SlurmRendezvousOnTheFirstNodeOfTheStepNotTheLaunchNode) {
  std::map<std::string, std::string> vars{{"SLURM_PROCID", "3"},
                                          {"SLURM_NTASKS", "8"},
                                          {"SLURM_LOCALID", "1"},
                                          {"SLURM_NODEID", "1"},
                                          {"SLURM_JOB_ID", "42"},
                                          {"SLURM_LAUNCH_NODE_IPADDR", "10.9.9.9"},
                                          {"SLURM_JOB_NODELIST", "gpu[07-08,11],cpu1"},
                                          {"SLURM_TASKS_PER_NODE", "2(x3),1"}};
  DistEnv d = parse(vars);
  EXPECT_EQ(d.master_addr, "gpu07");
  EXPECT_EQ(d.local_world_size, 2);
  vars["SLURM_STEP_NODELIST"] = "gpu[08,11]";  // a step on part of the job's nodes
  vars["SLURM_STEP_TASKS_PER_NODE"] = "4,3";
  d = parse(vars);
  EXPECT_EQ(d.master_addr, "gpu08");
  EXPECT_EQ(d.local_world_size, 3);
  vars["MASTER_ADDR"] = "10.1.1.1";
  EXPECT_EQ(parse(vars).master_addr, "10.1.1.1");
  vars.erase("MASTER_ADDR");
  vars.erase("SLURM_STEP_NODELIST");
  vars.erase("SLURM_JOB_NODELIST");
  EXPECT_EQ(parse(vars).master_addr, "10.9.9.9");  // no node list: the launch node is all there is
  vars["SLURM_LOCALID"] = "3";
  EXPECT_NE(error_of(vars).find("SLURM_LOCALID=3 is not below the 3 ranks on this node"), std::string::npos) << error_of(vars);
}

TEST(DistEnv, SlurmHostListsExpandInOrderWithTheirZeroPadding) {
  using V = std::vector<std::string>;
  EXPECT_EQ(expand_slurm_hostlist("node[01-04,07]", "L"), (V{"node01", "node02", "node03", "node04", "node07"}));
  EXPECT_EQ(expand_slurm_hostlist("a1,b[9-11],c", "L"), (V{"a1", "b9", "b10", "b11", "c"}));
  EXPECT_EQ(expand_slurm_hostlist("rack[1-2]-n[08-09].ib", "L"),
            (V{"rack1-n08.ib", "rack1-n09.ib", "rack2-n08.ib", "rack2-n09.ib"}));
  EXPECT_EQ(expand_slurm_hostlist("login", "L"), (V{"login"}));
  EXPECT_EQ(expand_slurm_hostlist("n[098-101]", "L"), (V{"n098", "n099", "n100", "n101"}));
  for (const char* bad : {"node[01-04", "node01-04]", "node[4-1]", "node[a-b]", "node[]", "a,,b", "n[1-2]]"}) {
    std::string message = test_util::error_message([&] { expand_slurm_hostlist(bad, "SLURM_JOB_NODELIST"); });
    EXPECT_NE(message.find("SLURM_JOB_NODELIST"), std::string::npos) << bad << ": " << message;
    EXPECT_NE(message.find(bad), std::string::npos) << bad << ": " << message;
  }
}

TEST(DistEnv, SlurmTasksPerNode) {
  EXPECT_EQ(expand_slurm_tasks_per_node("2(x3),1", "T"), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_EQ(expand_slurm_tasks_per_node("8", "T"), (std::vector<int>{8}));
  for (const char* bad : {"2(x)", "x", "2(x3", "0", "2(3)"})
    EXPECT_NE(test_util::error_message([&] { expand_slurm_tasks_per_node(bad, "SLURM_TASKS_PER_NODE"); })
                  .find("SLURM_TASKS_PER_NODE: expected task counts per node such as 2(x3),1"),
              std::string::npos)
        << bad;
}

// torchrun >= 2.4 serves the store from its agent on MASTER_PORT and counts restarts.
TEST(DistEnv, TorchrunAgentStoreAndRestarts) {
  std::map<std::string, std::string> vars{{"RANK", "1"},        {"WORLD_SIZE", "4"},  {"LOCAL_RANK", "1"},
                                          {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "29400"}};
  DistEnv d = parse(vars);
  EXPECT_FALSE(d.agent_store);
  EXPECT_EQ(d.restart_count, 0);
  EXPECT_EQ(d.local_world_size, 2);
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  vars["TORCHELASTIC_RESTART_COUNT"] = "2";
  d = parse(vars);
  EXPECT_TRUE(d.agent_store);
  EXPECT_EQ(d.restart_count, 2);
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  EXPECT_FALSE(parse(vars).agent_store);
  vars.erase("LOCAL_WORLD_SIZE");  // set by hand without it: one rank per node is assumed
  EXPECT_EQ(parse(vars).local_world_size, 1);
}
