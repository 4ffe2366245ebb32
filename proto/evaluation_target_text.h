// One line naming an ftd.v1.EvaluationTarget, for reports, logs and ftctl: the model directory, "ADAPTER on BASE",
// or the checkpoint. The coordinator and ftctl both print targets, so the wording lives beside the proto.
#pragma once

#include <string>

#include "ftd/v1/evaluation_request.pb.h"

namespace ftd {

// "(none)" for a target with nothing set.
std::string DescribeTarget(const ftd::v1::EvaluationTarget& target);

}  // namespace ftd
