// A JobSpec with every field of job_spec.proto set to a non-default value, and the reflection check that
// proves it: a field added to the proto fails the round-trip tests until the fixture sets it too.
#pragma once

#include <string>
#include <vector>

#include "ftd/v1/job_spec.pb.h"
#include "google/protobuf/message.h"

namespace ftd {

// Values are chosen to catch lossy transport: doubles with many significant digits, an int64 above 2^53,
// non-ASCII text, every enum at a value other than its zero.
v1::JobSpec FullJobSpec();

// Dotted paths ("benchmarks[1].limit") of the fields of `message` that are unset or hold their type's default
// (0, "", false, enum zero, empty repeated), recursing into sub-messages. Empty when every field is set.
std::vector<std::string> UnsetFields(const google::protobuf::Message& message);

}  // namespace ftd
