// DescribeTarget: the one wording of an evaluation target.
#include "proto/evaluation_target_text.h"

#include "absl/strings/str_cat.h"

namespace ftd {

std::string DescribeTarget(const ftd::v1::EvaluationTarget& target) {
  switch (target.target_case()) {
    case ftd::v1::EvaluationTarget::kModelPath:
      return target.model_path();
    case ftd::v1::EvaluationTarget::kAdapter:
      return absl::StrCat(target.adapter().adapter_path(), " on ", target.adapter().base_model());
    case ftd::v1::EvaluationTarget::kCheckpoint:
      return target.checkpoint();
    case ftd::v1::EvaluationTarget::TARGET_NOT_SET:
      break;
  }
  return "(none)";
}

}  // namespace ftd
