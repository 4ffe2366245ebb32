// PathRoots and CheckJobSpecPaths: root confinement over temp directories (symlink escapes, "..", sibling prefixes,
// files not yet created), and a descriptor walk that proves every path field of JobSpec is checked.
#include "coordinator/service/path_roots.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// <tmp>/data (a root), <tmp>/data2 (a sibling with the same prefix), <tmp>/outside; canonical paths throughout,
// because $TMPDIR may itself sit behind a symlink.
class PathRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::canonical(dir_.path()).string();
    data_ = base_ + "/data";
    data2_ = base_ + "/data2";
    outside_ = base_ + "/outside";
    for (const std::string& d : {data_, data2_, outside_}) fs::create_directories(d);
    std::ofstream(data_ + "/train.jsonl") << "{}\n";
    std::ofstream(outside_ + "/secret") << "x\n";
    absl::StatusOr<PathRoots> roots = PathRoots::Create({data_});
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_ = *std::move(roots);
  }

  TempDir dir_{"path_roots_test"};
  std::string base_, data_, data2_, outside_;
  PathRoots roots_;
};

TEST_F(PathRootsTest, AllowsPathsInsideARoot) {
  EXPECT_TRUE(roots_.Check("spec.base_model", data_).ok());
  EXPECT_TRUE(roots_.Check("spec.datasets[0].path", data_ + "/train.jsonl").ok());
  EXPECT_TRUE(roots_.Check("spec.datasets[0].path", data_ + "/./train.jsonl").ok());
}

TEST_F(PathRootsTest, AllowsANonexistentFileInsideARoot) {
  EXPECT_TRUE(roots_.Check("spec.benchmarks[0].path", data_ + "/not/yet/there.jsonl").ok());
}

TEST_F(PathRootsTest, RefusesAPathOutsideTheRoots) {
  const absl::Status status = roots_.Check("spec.datasets[0].path", "/etc/passwd");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            absl::StrCat("spec.datasets[0].path: /etc/passwd is outside the allowed roots (", data_, ")"));
}

TEST_F(PathRootsTest, SiblingWithTheSamePrefixIsNotInside) {
  std::ofstream(data2_ + "/x.jsonl") << "{}\n";
  const absl::Status status = roots_.Check("spec.base_model", data2_ + "/x.jsonl");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
}

TEST_F(PathRootsTest, RefusesASymlinkThatEscapesTheRoot) {
  fs::create_symlink(outside_, data_ + "/escape");
  const absl::Status status = roots_.Check("spec.base_model", data_ + "/escape/secret");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("spec.base_model: ", data_, "/escape/secret (resolves to ",
                                                       outside_, "/secret) is outside the allowed roots")));
  // A symlink that stays inside the root is fine.
  fs::create_directories(data_ + "/models/m1");
  fs::create_symlink(data_ + "/models/m1", data_ + "/current");
  EXPECT_TRUE(roots_.Check("spec.base_model", data_ + "/current").ok());
}

TEST_F(PathRootsTest, RefusesDotDotEvenWhenItStaysInside) {
  fs::create_directories(data_ + "/sub");
  const absl::Status status = roots_.Check("spec.base_model", data_ + "/sub/../train.jsonl");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("spec.base_model: path must not contain \"..\""));
  EXPECT_EQ(roots_.Check("spec.base_model", data_ + "/../outside/secret").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PathRootsTest, RefusesARelativePath) {
  const absl::Status status = roots_.Check("spec.base_model", "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "spec.base_model: path must be absolute, got \"x\"");
}

TEST_F(PathRootsTest, ListsEveryRootInTheMessage) {
  absl::StatusOr<PathRoots> two = PathRoots::Create({data_, outside_});
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_TRUE(two->Check("f", outside_ + "/secret").ok());
  EXPECT_THAT(two->Check("f", data2_).message(),
              HasSubstr(absl::StrCat("outside the allowed roots (", data_, ", ", outside_, ")")));
}

TEST_F(PathRootsTest, RootThatIsASymlinkIsCanonicalised) {
  fs::create_symlink(data_, base_ + "/data-link");
  absl::StatusOr<PathRoots> roots = PathRoots::Create({base_ + "/data-link"});
  ASSERT_TRUE(roots.ok()) << roots.status();
  ASSERT_EQ(roots->roots().size(), 1u);
  EXPECT_EQ(roots->roots()[0].string(), data_);
  EXPECT_TRUE(roots->Check("f", data_ + "/train.jsonl").ok());
}

TEST_F(PathRootsTest, CreateRefusesBadRoots) {
  EXPECT_EQ(PathRoots::Create({"relative/dir"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PathRoots::Create({base_ + "/missing"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PathRoots::Create({data_ + "/train.jsonl"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PathRoots::Create({base_ + "/missing"}).status().message(), HasSubstr(base_ + "/missing"));
}

TEST(PathRootsNoConfinementTest, EmptyRootsAllowEverything) {
  absl::StatusOr<PathRoots> roots = PathRoots::Create({});
  ASSERT_TRUE(roots.ok());
  EXPECT_FALSE(roots->confined());
  EXPECT_TRUE(roots->Check("f", "/etc/passwd").ok());
  EXPECT_TRUE(roots->Check("f", "relative/x").ok());
  EXPECT_TRUE(roots->Check("f", "/a/../b").ok());
  v1::JobSpec spec;
  spec.set_base_model("/etc");
  EXPECT_TRUE(CheckJobSpecPaths(PathRoots(), spec).ok());
}

// A string field reachable from JobSpec, by its YAML key path with index 0 for repeated messages.
struct StringField {
  std::string yaml_path;
  std::vector<const google::protobuf::FieldDescriptor*> chain;  // Message fields down to the string field.
};

void CollectStringFields(const google::protobuf::Descriptor* message, const std::string& prefix,
                         std::vector<const google::protobuf::FieldDescriptor*> chain,
                         std::vector<StringField>* out) {
  for (int i = 0; i < message->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->field(i);
    std::vector<const google::protobuf::FieldDescriptor*> next = chain;
    next.push_back(field);
    std::string path = absl::StrCat(prefix, ".", field->name());
    if (field->is_repeated()) path += "[0]";
    if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      out->push_back({path, next});
    } else if (field->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      CollectStringFields(field->message_type(), path, next, out);
    }
  }
}

// Sets the field at the end of `chain` to `value`, creating the messages on the way (one element of a repeated one).
void SetStringField(google::protobuf::Message* message, const std::vector<const google::protobuf::FieldDescriptor*>& chain,
                    const std::string& value) {
  for (size_t i = 0; i < chain.size(); ++i) {
    const google::protobuf::FieldDescriptor* field = chain[i];
    const google::protobuf::Reflection* reflection = message->GetReflection();
    const bool last = i + 1 == chain.size();
    if (last && field->is_repeated()) {
      reflection->AddString(message, field, value);
    } else if (last) {
      reflection->SetString(message, field, value);
    } else if (field->is_repeated()) {
      message = reflection->AddMessage(message, field);
    } else {
      message = reflection->MutableMessage(message, field);
    }
  }
}

// Every string field of JobSpec is either a filesystem path (and then CheckJobSpecPaths must refuse one outside the
// roots, naming the field) or on this list of fields known not to be paths. A new string field fails this test
// until it is put on one side.
TEST_F(PathRootsTest, EveryJobSpecPathFieldIsChecked) {
  const std::set<std::string> not_paths = {"spec.name", "spec.lora_target_modules[0]"};
  std::vector<StringField> fields;
  CollectStringFields(v1::JobSpec::descriptor(), "spec", {}, &fields);
  std::set<std::string> checked;
  for (const StringField& field : fields) {
    if (not_paths.count(field.yaml_path) > 0) continue;
    v1::JobSpec spec;
    SetStringField(&spec, field.chain, outside_ + "/secret");
    const absl::Status status = CheckJobSpecPaths(roots_, spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied)
        << field.yaml_path << " is a string field of JobSpec that CheckJobSpecPaths does not check; check it or "
        << "add it to not_paths";
    EXPECT_THAT(status.message(), HasSubstr(field.yaml_path + ": "));
    checked.insert(field.yaml_path);

    v1::JobSpec inside;
    SetStringField(&inside, field.chain, data_ + "/train.jsonl");
    EXPECT_TRUE(CheckJobSpecPaths(roots_, inside).ok()) << field.yaml_path;
  }
  EXPECT_EQ(checked, (std::set<std::string>{"spec.base_model", "spec.datasets[0].path", "spec.rehearsal.path",
                                            "spec.early_stopping.general_eval_dataset", "spec.benchmarks[0].path"}));
}

TEST_F(PathRootsTest, JobSpecErrorsNameTheIndexAndSkipEmptyFields) {
  v1::JobSpec spec;
  spec.set_base_model(data_);
  spec.add_datasets()->set_path(data_ + "/train.jsonl");
  spec.add_datasets()->set_path("/etc/passwd");
  spec.add_benchmarks();  // long_context: no path.
  spec.mutable_rehearsal();
  const absl::Status status = CheckJobSpecPaths(roots_, spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("spec.datasets[1].path: /etc/passwd is outside"));
  spec.mutable_datasets(1)->set_path(data_ + "/b.jsonl");
  EXPECT_TRUE(CheckJobSpecPaths(roots_, spec).ok());
}

}  // namespace
}  // namespace ftd
