#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>

#include "medvqa/core/error.h"
#include "medvqa/data/dataset_reader.h"
#include "medvqa/data/demo_data.h"
#include "medvqa/data/loader.h"
#include "medvqa/data/split.h"
#include "common/test_util.h"

namespace fs = std::filesystem;
using namespace medvqa;

namespace {

fs::path demo_root() {
  static fs::path root = [] {
    fs::path r = fs::temp_directory_path() / ("medvqa_demo_" + std::to_string(::getpid()));
    DemoDataOptions o;
    o.images_per_modality = 10;
    write_demo_data(r.string(), o);
    return r;
  }();
  return root;
}

using test_util::error_message;

// A loader over n one-token samples (id = label = index) sharing one small image.
std::unique_ptr<DataLoader> index_loader(size_t n, int64_t batch, int64_t rank, int64_t world) {
  std::string image = read_omnimedvqa(demo_root().string(), {}).at(0).image;
  std::vector<Sample> samples;
  for (size_t i = 0; i < n; ++i) samples.push_back({{static_cast<int64_t>(i)}, {static_cast<int64_t>(i)}});
  LoaderOptions o;
  o.batch_size = batch;
  o.seed = 3;
  o.rank = rank;
  o.world_size = world;
  o.workers = 1;
  o.preprocess.image_size = 8;
  return std::make_unique<DataLoader>(std::move(samples), std::vector<std::string>(n, image), o);
}

// The items every rank gets until the epoch of rank 0's loader changes.
std::vector<size_t> rest_of_epoch(std::vector<std::unique_ptr<DataLoader>>& ranks) {
  std::vector<size_t> seen;
  int64_t epoch = ranks[0]->position().epoch;
  while (ranks[0]->position().epoch == epoch)
    for (auto& r : ranks)
      for (size_t i : r->next().indices) seen.push_back(i);
  return seen;
}

std::vector<std::unique_ptr<DataLoader>> world(size_t n, int64_t batch, int64_t w) {
  std::vector<std::unique_ptr<DataLoader>> ranks;
  for (int64_t r = 0; r < w; ++r) ranks.push_back(index_loader(n, batch, r, w));
  return ranks;
}

}  // namespace

TEST(Loader, EveryItemExactlyOncePerEpochOnAnyWorldSize) {
  const size_t n = 11;
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  for (int64_t w : {1, 2, 3, 4}) {
    auto ranks = world(n, 2, w);
    EXPECT_EQ(ranks[0]->batches_per_epoch(), static_cast<int64_t>((n + 2 * w - 1) / (2 * w))) << w;
    auto epoch0 = rest_of_epoch(ranks), epoch1 = rest_of_epoch(ranks);
    EXPECT_NE(epoch0, epoch1) << "world " << w << ": epoch 1 was not reshuffled";
    for (auto* e : {&epoch0, &epoch1}) {
      std::sort(e->begin(), e->end());
      EXPECT_EQ(*e, all) << "world " << w;
    }
  }
}

TEST(Loader, PositionCarriesOverToAnotherWorldSize) {
  const size_t n = 11;
  auto two = world(n, 2, 2);
  std::vector<size_t> seen;
  for (int k = 0; k < 2; ++k)
    for (auto& r : two)
      for (size_t i : r->next().indices) seen.push_back(i);
  EXPECT_EQ(two[0]->position().sample, 8);
  // The same global order, continued by one rank from the samples consumed.
  auto one = world(n, 2, 1);
  one[0]->set_position(two[0]->position());
  EXPECT_EQ(one[0]->batches_before_epoch(1), 2);
  auto rest = rest_of_epoch(one);
  seen.insert(seen.end(), rest.begin(), rest.end());
  auto straight = world(n, 4, 1);
  EXPECT_EQ(seen, rest_of_epoch(straight)) << "2 ranks x 2 then 1 rank x 2 must walk the order of 1 rank x 4";
  EXPECT_NE(error_message([&] { one[0]->set_position({0, 11}); }).find("outside an epoch of 11 items"), std::string::npos);
}

TEST(DemoData, IsAValidOmniMedVqaRootWithRealModalityStrings) {
  auto items = read_omnimedvqa(demo_root().string(), {});
  EXPECT_GE(items.size(), 6u * 10 * 2);
  std::set<std::string> modalities;
  for (const auto& i : items) modalities.insert(i.modality_type);
  EXPECT_TRUE(modalities.count("MR (Mag-netic Resonance Imaging)"));
  EXPECT_TRUE(modalities.count("CT(Computed Tomography)"));
  EXPECT_TRUE(fs::exists(items[0].image));
  EXPECT_NE(items[0].image_path.find("Images/Demo "), std::string::npos);
}

TEST(DemoData, IsDeterministicForASeed) {
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  DemoDataOptions o;
  o.images_per_modality = 10;
  fs::path a = fs::temp_directory_path() / ("medvqa_demo_a_" + std::to_string(::getpid()));
  write_demo_data(a.string(), o);
  for (const char* f : {"QA_information/Open-access/Demo Fundus.json", "Images/Demo Ultrasound/img_0007.png"})
    EXPECT_EQ(slurp(demo_root() / f), slurp(a / f)) << f;
  o.seed = 1;
  fs::path b = fs::temp_directory_path() / ("medvqa_demo_b_" + std::to_string(::getpid()));
  write_demo_data(b.string(), o);
  EXPECT_NE(slurp(demo_root() / "Images/Demo CT Scan/img_0000.png"), slurp(b / "Images/Demo CT Scan/img_0000.png"));
}

TEST(Split, IsImageDisjointStratifiedAndDeterministic) {
  auto items = read_omnimedvqa(demo_root().string(), {});
  SplitManifest m = make_split(items, {0.6, 0.2, 0.2}, 7);
  std::map<std::string, std::string> split_of_id, split_of_image;
  for (const auto& [split, ids] : m.ids)
    for (const auto& id : ids) split_of_id[id] = split;
  EXPECT_EQ(split_of_id.size(), items.size());
  std::map<std::string, std::set<std::string>> datasets_per_split;
  for (const auto& item : items) {
    auto [it, fresh] = split_of_image.emplace(item.image_path, split_of_id[item.question_id]);
    EXPECT_TRUE(fresh || it->second == split_of_id[item.question_id]) << item.image_path << " is in two splits";
    datasets_per_split[split_of_id[item.question_id]].insert(item.dataset);
  }
  for (const char* s : {"train", "val", "test"}) EXPECT_EQ(datasets_per_split[s].size(), 6u) << s;
  EXPECT_EQ(make_split(items, {0.6, 0.2, 0.2}, 7).ids, m.ids);
  EXPECT_NE(make_split(items, {0.6, 0.2, 0.2}, 8).ids, m.ids);

  std::string path = (demo_root() / "manifest.json").string();
  write_manifest(path, m);
  SplitManifest back = read_manifest(path);
  EXPECT_EQ(back.ids, m.ids);
  EXPECT_EQ(select_split(items, back, "test").size(), m.ids["test"].size());
  auto mri = filter_items(items, {"MR (Mag-netic Resonance Imaging)"}, {}, {});
  EXPECT_EQ(mri.size(), std::count_if(items.begin(), items.end(), [](const VqaItem& i) { return i.dataset == "Demo Brain MRI"; }));
  EXPECT_EQ(filter_items(items, {}, {"Modality Recognition"}, {"Demo Fundus"}).size(), 10u);
  EXPECT_NE(error_message([&] { select_split(mri, back, "test"); }).find("a manifest of another dataset"), std::string::npos);
}

TEST(DatasetReader, BadItemsAreReportedByFileAndIndexOrSkipped) {
  fs::path root = fs::temp_directory_path() / ("medvqa_bad_" + std::to_string(::getpid()));
  fs::create_directories(root / "QA_information/Open-access");
  fs::create_directories(root / "Images");
  std::ofstream(root / "Images/a.png") << "x";
  std::ofstream(root / "QA_information/Open-access/Bad Set.json")
      << R"([{"dataset":"B","question_id":"q1","question_type":"t","question":"q?","gt_answer":"a","image_path":"Images/a.png","option_A":"a","option_B":"b","modality_type":"X-Ray"},
            {"dataset":"B","question_id":"q2","question_type":"t","question":"q?","gt_answer":"c","image_path":"Images/a.png","option_A":"a","option_B":"b","modality_type":"X-Ray"},
            {"dataset":"B","question_id":"q3","question_type":"t","question":"q?","gt_answer":"a","image_path":"Images/missing.png","option_A":"a","option_B":"b","modality_type":"X-Ray"},
            {"dataset":"B","question_type":"t"}])";
  std::string err = error_message([&] { read_omnimedvqa(root.string(), {}); });
  EXPECT_NE(err.find("3 problems"), std::string::npos) << err;
  EXPECT_NE(err.find("Bad Set.json item 1: key \"gt_answer\": \"c\" is not one of the options"), std::string::npos) << err;
  EXPECT_NE(err.find("Bad Set.json item 2: image not found"), std::string::npos) << err;
  EXPECT_NE(err.find("Bad Set.json item 3: key \"question_id\": missing"), std::string::npos) << err;
  ReadOptions skip;
  skip.skip_bad = true;
  skip.max_skip_fraction = 0.8;
  EXPECT_EQ(read_omnimedvqa(root.string(), skip).size(), 1u);
  skip.max_skip_fraction = 0.5;
  EXPECT_NE(error_message([&] { read_omnimedvqa(root.string(), skip); }).find("3 of 4 items are invalid"), std::string::npos);
}
