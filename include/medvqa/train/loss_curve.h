// The loss-curve picture of a run (train loss per step, validation loss where measured), like
// the paper's Figure 3, drawn with OpenCV into a PNG.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace medvqa {

using Curve = std::vector<std::pair<double, double>>;  // (step, loss)

void write_loss_curve(const std::string& path, const Curve& train, const Curve& val, const std::string& title);

}  // namespace medvqa
