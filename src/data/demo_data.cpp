#include "medvqa/data/demo_data.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <random>

#include "medvqa/core/error.h"
#include "medvqa/io/atomic_file.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Style {
  const char* dataset;        // folder and JSON file name (with spaces, like the real release)
  const char* modality_type;  // OmniMedVQA's strings, byte-exact
  const char* answer;         // modality recognition answer
};

const Style kStyles[] = {
    {"Demo CT Scan", "CT(Computed Tomography)", "CT"},
    {"Demo Chest X-Ray", "X-Ray", "X-ray"},
    {"Demo Brain MRI", "MR (Mag-netic Resonance Imaging)", "MRI"},
    {"Demo Fundus", "Fundus Photography", "fundus photography"},
    {"Demo Microscopy", "Microscopy Images", "microscopy"},
    {"Demo Ultrasound", "ultrasound", "ultrasound"},
};

struct Finding {
  int count;           // 0..3 lesions
  bool left;           // all lesions on one side
  bool round;          // circles or squares
};

// The modality's look: background and anatomy, with mild noise so no two images are equal.
cv::Mat draw_background(int style, int w, int h, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> jitter(-12, 12);
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::Point c(w / 2 + jitter(rng), h / 2 + jitter(rng));
  switch (style) {
    case 0:  // CT: grey body disc with a bright spine
      cv::circle(img, c, std::min(w, h) * 42 / 100, cv::Scalar(110, 110, 110), cv::FILLED);
      cv::circle(img, {c.x, c.y + h / 4}, 14, cv::Scalar(175, 175, 175), cv::FILLED);
      break;
    case 1:  // X-ray: light thorax, two dark lungs
      cv::rectangle(img, {w / 10, h / 10}, {w * 9 / 10, h * 9 / 10}, cv::Scalar(170, 170, 170), cv::FILLED);
      cv::ellipse(img, {w * 3 / 10, h / 2}, {w / 7, h / 3}, 0, 0, 360, cv::Scalar(60, 60, 60), cv::FILLED);
      cv::ellipse(img, {w * 7 / 10, h / 2}, {w / 7, h / 3}, 0, 0, 360, cv::Scalar(60, 60, 60), cv::FILLED);
      break;
    case 2:  // MRI: grey head ellipse, darker ventricles
      cv::ellipse(img, c, {w * 4 / 10, h * 45 / 100}, 0, 0, 360, cv::Scalar(140, 140, 140), cv::FILLED);
      cv::ellipse(img, c, {w / 12, h / 6}, 0, 0, 360, cv::Scalar(50, 50, 50), cv::FILLED);
      break;
    case 3:  // fundus: orange-red disc, yellow optic disc
      cv::circle(img, c, std::min(w, h) * 45 / 100, cv::Scalar(40, 80, 200), cv::FILLED);
      cv::circle(img, {c.x, c.y - h / 5}, 18, cv::Scalar(120, 230, 250), cv::FILLED);
      break;
    case 4: {  // microscopy: pink field with small purple cells
      img.setTo(cv::Scalar(220, 200, 245));
      std::uniform_int_distribution<int> x(0, w - 1), y(0, h - 1);
      for (int i = 0; i < 40; ++i) cv::circle(img, {x(rng), y(rng)}, 4, cv::Scalar(160, 90, 150), cv::FILLED);
      break;
    }
    default:  // ultrasound: speckled fan
      cv::ellipse(img, {w / 2, h / 20}, {w * 9 / 10, h * 9 / 10}, 0, 55, 125, cv::Scalar(100, 100, 100), cv::FILLED);
      break;
  }
  cv::Mat noise(h, w, CV_8UC3);
  cv::RNG cv_rng(rng());  // not cv::randu: OpenCV's global generator would ignore our seed
  cv_rng.fill(noise, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(25));
  img += noise;
  return img;
}

void draw_findings(cv::Mat& img, int style, const Finding& f) {
  // Dark lesions on the light microscopy field, bright ones elsewhere: always high contrast.
  cv::Scalar colour = style == 4 ? cv::Scalar(20, 20, 20) : cv::Scalar(255, 255, 255);
  int w = img.cols, h = img.rows, r = std::min(w, h) / 11;
  int x = f.left ? w * 3 / 10 : w * 7 / 10;
  for (int i = 0; i < f.count; ++i) {
    cv::Point c(x, h * (2 + 3 * i) / 10 + h / 20);
    if (f.round)
      cv::circle(img, c, r, colour, cv::FILLED);
    else
      cv::rectangle(img, {c.x - r, c.y - r}, {c.x + r, c.y + r}, colour, cv::FILLED);
  }
}

json item(const std::string& dataset, const std::string& id, const std::string& type, const std::string& question,
          const std::string& answer, std::vector<std::string> options, const std::string& image_path,
          const std::string& modality, std::mt19937_64& rng) {
  for (size_t i = options.size(); i > 1; --i) std::swap(options[i - 1], options[rng() % i]);
  json j{{"dataset", dataset}, {"question_id", id}, {"question_type", type}, {"question", question},
         {"gt_answer", answer}, {"image_path", image_path}};
  const char* keys[] = {"option_A", "option_B", "option_C", "option_D"};
  for (size_t i = 0; i < options.size() && i < 4; ++i) j[keys[i]] = options[i];
  j["modality_type"] = modality;
  return j;
}

}  // namespace

size_t write_demo_data(const std::string& out, const DemoDataOptions& options) {
  MEDVQA_CHECK(options.images_per_modality > 0, "demo-data: images per modality must be positive");
  std::mt19937_64 rng(options.seed);
  size_t questions = 0;
  const int n_styles = static_cast<int>(std::size(kStyles));
  for (int s = 0; s < n_styles; ++s) {
    const Style& style = kStyles[s];
    fs::path image_dir = fs::path(out) / "Images" / style.dataset;
    fs::create_directories(image_dir);
    json items = json::array();
    std::vector<std::string> modality_options;
    for (const auto& st : kStyles) modality_options.push_back(st.answer);
    for (int i = 0; i < options.images_per_modality; ++i) {
      Finding f{static_cast<int>(rng() % 4), rng() % 2 == 0, rng() % 2 == 0};
      int w = 224 + static_cast<int>(rng() % 5) * 16, h = 224 + static_cast<int>(rng() % 3) * 16;
      cv::Mat img = draw_background(s, w, h, rng);
      draw_findings(img, s, f);
      char name[64];
      std::snprintf(name, sizeof name, "img_%04d.png", i);
      std::string rel = std::string("Images/") + style.dataset + "/" + name;
      MEDVQA_CHECK(cv::imwrite((image_dir / name).string(), img), "demo-data: cannot write ", (image_dir / name).string());
      std::string id = std::string(style.dataset) + "_" + std::to_string(i) + "_";
      // Four distractors from the other modalities, the answer among them.
      std::vector<std::string> mods{style.answer};
      for (int k = 1; k < 4; ++k) mods.push_back(kStyles[(s + k * 2 - 1) % n_styles].answer);
      items.push_back(item(style.dataset, id + "m", "Modality Recognition",
                           "What imaging modality was used to acquire this image?", style.answer, mods, rel,
                           style.modality_type, rng));
      items.push_back(item(style.dataset, id + "d", "Disease Diagnosis", "Is there any abnormality in this image?",
                           f.count ? "yes" : "no", {"yes", "no"}, rel, style.modality_type, rng));
      if (f.count) {
        std::string count = std::to_string(f.count);
        items.push_back(item(style.dataset, id + "g", "Lesion Grading", "How many lesions are visible?", count,
                             {"1", "2", "3"}, rel, style.modality_type, rng));
        items.push_back(item(style.dataset, id + "a", "Anatomy Identification",
                             "On which side of the image are the lesions?", f.left ? "left" : "right", {"left", "right"},
                             rel, style.modality_type, rng));
        items.push_back(item(style.dataset, id + "o", "Other Biological Attributes", "What shape are the lesions?",
                             f.round ? "round" : "square", {"round", "square"}, rel, style.modality_type, rng));
      }
    }
    questions += items.size();
    write_file_atomic((fs::path(out) / "QA_information" / "Open-access" / (std::string(style.dataset) + ".json")).string(),
                      items.dump(1) + "\n");
  }
  return questions;
}

}  // namespace medvqa
