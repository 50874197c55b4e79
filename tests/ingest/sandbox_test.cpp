#include "cloister/ingest/sandbox.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "ingest_test_util.h"

namespace cloister::ingest {
namespace {

using testing_util::ScratchDir;

SandboxOptions Worker(const std::string& mode, int timeout = 30) {
  SandboxOptions s;
  s.worker = CLOISTER_TEST_WORKER;
  s.worker_args = mode.empty() ? std::vector<std::string>{} : std::vector<std::string>{mode};
  s.timeout_seconds = timeout;
  return s;
}

void Write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(ExtractIsolatedTest, DocumentsComeBackFromTheWorkerIntact) {
  ScratchDir dir;
  Write(dir / "note.txt", "Quarterly report.\n\nThe refund policy changed in March.\n");
  std::vector<ParsedDocument> docs;
  Status st = ExtractIsolated(dir / "note.txt", {}, Worker(""), [&](ParsedDocument d) {
    docs.push_back(std::move(d));
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].format, "text");
  std::string all;
  for (const auto& b : docs[0].blocks) all += b.text;
  EXPECT_NE(all.find("refund policy"), std::string::npos);
}

TEST(ExtractIsolatedTest, ExtractionErrorsCrossTheProcessBoundaryWithTheirCode) {
  ScratchDir dir;
  Write(dir / "blob.bin", std::string("\x00\x01\x02\x03\x04", 5));
  Status st = ExtractIsolated(dir / "blob.bin", {}, Worker(""), [](ParsedDocument) { return Status::Ok(); });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("unsupported"), std::string::npos) << st.message();
}

TEST(ExtractIsolatedTest, ACrashingParserFailsTheFileNamingTheSignal) {
  ScratchDir dir;
  Write(dir / "x.txt", "x");
  Status st = ExtractIsolated(dir / "x.txt", {}, Worker("crash"), [](ParsedDocument) { return Status::Ok(); });
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("crashed"), std::string::npos) << st.message();
}

TEST(ExtractIsolatedTest, AHangingParserIsKilledAtTheTimeLimit) {
  ScratchDir dir;
  Write(dir / "x.txt", "x");
  auto start = std::chrono::steady_clock::now();
  Status st = ExtractIsolated(dir / "x.txt", {}, Worker("hang", 1), [](ParsedDocument) { return Status::Ok(); });
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("timed out"), std::string::npos) << st.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(ExtractIsolatedTest, AParserRunningOutOfMemoryFailsTheFileAsOutOfMemory) {
  ScratchDir dir;
  Write(dir / "x.txt", "x");
  Status st = ExtractIsolated(dir / "x.txt", {}, Worker("oom"), [](ParsedDocument) { return Status::Ok(); });
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("memory"), std::string::npos) << st.message();
}

TEST(ExtractIsolatedTest, AGarbledWorkerStreamIsAnErrorNotACrash) {
  ScratchDir dir;
  Write(dir / "x.txt", "x");
  Status st = ExtractIsolated(dir / "x.txt", {}, Worker("garbage"), [](ParsedDocument) { return Status::Ok(); });
  EXPECT_FALSE(st.ok());
}

TEST(ExtractIsolatedTest, AnEmitErrorStopsTheWorkerAndIsReturned) {
  ScratchDir dir;
  Write(dir / "note.txt", "some text");
  Status st = ExtractIsolated(dir / "note.txt", {}, Worker(""),
                              [](ParsedDocument) { return Unavailable("catalog busy"); });
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

TEST(ExtractIsolatedTest, AMissingWorkerProgramIsInternal) {
  ScratchDir dir;
  Write(dir / "x.txt", "x");
  SandboxOptions s = Worker("");
  s.worker = dir / "no-such-program";
  Status st = ExtractIsolated(dir / "x.txt", {}, s, [](ParsedDocument) { return Status::Ok(); });
  EXPECT_FALSE(st.ok());
}

TEST(ExtractionWorkerTest, ManyFilesShareOneChildEvenWhenSomeFail) {
  ScratchDir dir;
  ExtractionWorker worker(Worker(""));
  for (int i = 0; i < 5; ++i) {
    Write(dir / ("f" + std::to_string(i) + ".txt"), "note number " + std::to_string(i));
    int docs = 0;
    Status st = worker.Extract(dir / ("f" + std::to_string(i) + ".txt"), {}, [&](ParsedDocument d) {
      EXPECT_NE(d.blocks.at(0).text.find(std::to_string(i)), std::string::npos);
      ++docs;
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(docs, 1);
  }
  Write(dir / "blob.bin", std::string("\x00\x01\x02", 3));
  EXPECT_FALSE(worker.Extract(dir / "blob.bin", {}, [](ParsedDocument) { return Status::Ok(); }).ok());
  EXPECT_TRUE(worker.Extract(dir / "f0.txt", {}, [](ParsedDocument) { return Status::Ok(); }).ok());
  EXPECT_EQ(worker.children_started(), 1);
}

TEST(ExtractionWorkerTest, AChildIsReplacedAfterRecycleAfterFiles) {
  ScratchDir dir;
  Write(dir / "a.txt", "alpha");
  SandboxOptions options = Worker("");
  options.recycle_after = 2;
  ExtractionWorker worker(options);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(worker.Extract(dir / "a.txt", {}, [](ParsedDocument) { return Status::Ok(); }).ok());
  }
  EXPECT_EQ(worker.children_started(), 3);
}

TEST(ExtractionWorkerTest, AfterAnEmitErrorTheNextFileGetsAFreshChild) {
  ScratchDir dir;
  Write(dir / "a.txt", "alpha");
  ExtractionWorker worker(Worker(""));
  EXPECT_FALSE(worker.Extract(dir / "a.txt", {}, [](ParsedDocument) { return Unavailable("busy"); }).ok());
  EXPECT_TRUE(worker.Extract(dir / "a.txt", {}, [](ParsedDocument) { return Status::Ok(); }).ok());
  EXPECT_EQ(worker.children_started(), 2);
}

}  // namespace
}  // namespace cloister::ingest
