// The standalone trainer's key list (worker/train/train_config.h JobSpecKeys) is exactly the JobSpec proto's
// fields, in order: a key added to the proto must be taught to `ftd-worker train` (read, ignored or refused).
#include <string>
#include <vector>

#include "ftd/v1/job_spec.pb.h"
#include "gtest/gtest.h"
#include "worker/train/train_config.h"

namespace ftd {
namespace {

TEST(TrainConfigJobSpecTest, KeysAreTheProtoFields) {
  const google::protobuf::Descriptor* spec = ftd::v1::JobSpec::descriptor();
  std::vector<std::string> proto_fields;
  for (int i = 0; i < spec->field_count(); ++i) proto_fields.push_back(spec->field(i)->name());
  EXPECT_EQ(JobSpecKeys(), proto_fields);
}

}  // namespace
}  // namespace ftd
