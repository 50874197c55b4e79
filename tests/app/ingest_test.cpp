// The ingestion pipeline end to end: sandboxed extraction (the real cloister binary as worker),
// chunking, storage, search.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "cloister/app/knowledge_base.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class IngestTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.inbox_dir = dir_ / "inbox";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    config_.ingest.settle_ms = 300;
    Open();
  }
  void Open() {
    kb_.reset();
    auto kb = KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
  }
  IngestReport Ingest(const std::vector<fs::path>& paths) {
    auto r = kb_->Ingest(paths, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : IngestReport{};
  }
  std::vector<SearchHit> Find(const std::string& q) {
    auto r = kb_->Search(cloister::app::Caller::Everything(), q, 10);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->results : std::vector<SearchHit>{};
  }
  // Polls until `pred` holds (the watcher works in the background); false after 20 s.
  template <typename Pred>
  bool Eventually(Pred pred) {
    for (int i = 0; i < 200; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  fixtures::TempDir dir_;
  Config config_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(IngestTest, TextAndMarkdownFilesBecomeSearchableChunks) {
  Write(dir_ / "docs" / "policy.txt", "Refunds are granted within thirty days of purchase.\n");
  Write(dir_ / "docs" / "guide.md", "# Onboarding\n\nNew staff receive a badge on their first day.\n");
  IngestReport r = Ingest({dir_ / "docs"});
  ASSERT_EQ(r.ingested.size(), 2u);
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(r.documents, 2);
  EXPECT_GE(r.chunks, 2);
  auto hits = Find("badge");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(fs::path(hits[0].path).filename(), "guide.md");
  EXPECT_EQ(hits[0].type, "markdown");
  EXPECT_FALSE(hits[0].page.has_value());
}

TEST_F(IngestTest, UnreadableFilesFailWithAReasonAndDoNotStopTheOthers) {
  Write(dir_ / "in" / "good.txt", "harmless words about lighthouses");
  Write(dir_ / "in" / "blob.bin", std::string("\x00\x01\x02\xff\xfe\x00\x03", 7));
  Write(dir_ / "in" / "broken.pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntrailer");
  IngestReport r = Ingest({dir_ / "in"});
  EXPECT_EQ(r.ingested.size(), 1u);
  ASSERT_EQ(r.failed.size(), 2u);
  for (const auto& f : r.failed) {
    EXPECT_FALSE(f.error.empty());
    if (fs::path(f.path).filename() == "blob.bin") EXPECT_EQ(f.error.rfind("unsupported", 0), 0u) << f.error;
    if (fs::path(f.path).filename() == "broken.pdf") EXPECT_EQ(f.error.rfind("corrupt", 0), 0u) << f.error;
  }
  EXPECT_EQ(Find("lighthouses").size(), 1u);
  auto status = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->documents_by_status["failed"], 2);
  EXPECT_EQ(status->recent_failures.size(), 2u);
}

TEST_F(IngestTest, IdenticalContentIngestedTwiceIsOneDocument) {
  Write(dir_ / "a" / "one.txt", "the aurora borealis report");
  Write(dir_ / "b" / "copy.txt", "the aurora borealis report");
  IngestReport r = Ingest({dir_ / "a", dir_ / "b"});
  ASSERT_EQ(r.ingested.size(), 2u);
  EXPECT_EQ(r.ingested[0].document_ids, r.ingested[1].document_ids);
  EXPECT_EQ(Find("aurora").size(), 1u);
  IngestReport again = Ingest({dir_ / "a" / "one.txt", dir_ / "b" / "copy.txt"});
  ASSERT_EQ(again.ingested.size(), 2u);
  EXPECT_EQ(again.ingested[0].document_ids, r.ingested[0].document_ids);
  EXPECT_EQ(again.ingested[1].document_ids, r.ingested[0].document_ids);
  // One of the two holds the document ("unchanged"), the other points at it.
  EXPECT_NE(again.ingested[0].note, again.ingested[1].note);
  EXPECT_EQ(Find("aurora").size(), 1u);
  EXPECT_EQ(kb_->Status(cloister::app::Caller::Everything())->documents, 1);
}

TEST_F(IngestTest, AModifiedFileReplacesItsOldChunks) {
  Write(dir_ / "f.txt", "the old wording mentions zeppelins");
  Ingest({dir_ / "f.txt"});
  ASSERT_EQ(Find("zeppelins").size(), 1u);
  Write(dir_ / "f.txt", "the new wording mentions submarines");
  IngestReport r = Ingest({dir_ / "f.txt"});
  ASSERT_EQ(r.ingested.size(), 1u);
  EXPECT_TRUE(Find("zeppelins").empty());
  EXPECT_EQ(Find("submarines").size(), 1u);
  auto status = kb_->Status(cloister::app::Caller::Everything());
  EXPECT_EQ(status->documents, 1);
}

// The acceptance checks on real corpus files.
TEST_F(IngestTest, CorpusDocumentsAreFoundByPageSubjectAttachmentAndOcr) {
  fs::path corpus = fixtures::SharedDir() / "corpus";
  IngestReport r = Ingest({corpus / "pdfs/pdfjs/tracemonkey.pdf", corpus / "pdfs/ocrmypdf/francais.pdf",
                           corpus / "mail/mikel-mail/raw_email_encoded_stack_level_too_deep.eml",
                           corpus / "mail/mikel-mail/raw_email_euc-kr.eml",
                           corpus / "mail/mail-parser/mail_test_10.eml"});
  ASSERT_EQ(r.failed.size(), 0u) << r.failed[0].path << ": " << r.failed[0].error;

  auto page = Find("LIR snippet for sample program");  // Figure 3's caption, page 3
  ASSERT_FALSE(page.empty());
  EXPECT_EQ(fs::path(page[0].path).filename(), "tracemonkey.pdf");
  EXPECT_EQ(page[0].page, std::optional<int>(3));

  auto subject = Find("Fouché");  // only in an RFC 2047 ISO-8859-1 encoded Subject
  ASSERT_FALSE(subject.empty());
  EXPECT_EQ(subject[0].type, "email");
  EXPECT_EQ(fs::path(subject[0].path).filename(), "raw_email_encoded_stack_level_too_deep.eml");
  auto korean = Find("한국말로");  // EUC-KR encoded word
  ASSERT_FALSE(korean.empty());
  EXPECT_EQ(fs::path(korean[0].path).filename(), "raw_email_euc-kr.eml");

  auto attached = Find("Deal Registration");  // only in the PDF attached to a message
  ASSERT_FALSE(attached.empty());
  EXPECT_EQ(attached[0].type, "pdf");
  ASSERT_TRUE(attached[0].parent_id.has_value());
  EXPECT_EQ(fs::path(attached[0].path).filename(), "mail_test_10.eml");

  auto scanned = Find("whisky");  // francais.pdf has no text layer: OCR found it
  ASSERT_FALSE(scanned.empty());
  EXPECT_EQ(fs::path(scanned[0].path).filename(), "francais.pdf");
  EXPECT_EQ(scanned[0].page, std::optional<int>(1));
}

TEST_F(IngestTest, HostileFilesEachFailOrDegradeAloneAndTheRestIsIngested) {
  fs::path in = dir_ / "hostile";
  std::string pdf;
  {
    std::ifstream f(fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf", std::ios::binary);
    pdf.assign(std::istreambuf_iterator<char>(f), {});
  }
  Write(in / "truncated.pdf", pdf.substr(0, pdf.size() / 3));
  std::string mime = "From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n";
  for (int i = 0; i < 300; ++i) {
    mime += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" +
            std::to_string(i) + "\r\n";
  }
  Write(in / "nested.eml", mime + "Content-Type: text/plain\r\n\r\ninnermost\r\n");
  Write(in / "line.txt", std::string(100u << 20, 'a'));
  Write(in / "invalid.txt", "caf\xe9 \xff\xfe broken \xc3\x28 bytes and the word quokka");
  Write(in / "good.txt", "a perfectly normal note about pelicans");
  auto r = kb_->Ingest({in}, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ingested.size() + r->failed.size(), 5u);
  for (const auto& f : r->failed) EXPECT_FALSE(f.error.empty()) << f.path;
  EXPECT_EQ(Find("pelicans").size(), 1u);
  EXPECT_EQ(Find("quokka").size(), 1u);  // invalid bytes replaced, the text kept
}

TEST_F(IngestTest, AMissingPathIsNotFound) {
  auto r = kb_->Ingest({dir_ / "nope"}, {});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(IngestTest, ProgressIsReportedUpToTheLastFile) {
  for (int i = 0; i < 5; ++i) Write(dir_ / "p" / ("f" + std::to_string(i) + ".txt"), "text number " + std::to_string(i));
  IngestProgress last;
  auto r = kb_->Ingest({dir_ / "p"}, [&](const IngestProgress& p) { last = p; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(last.files_total, 5);
  EXPECT_EQ(last.files_done, 5);
  EXPECT_GE(last.chunks, 5);
}

TEST_F(IngestTest, TheWatcherIngestsSettledFilesFollowsRenamesAndForgetsDeletions) {
  ASSERT_TRUE(kb_->StartBackground().ok());
  Write(config_.inbox_dir / "memo.txt", "the harbour crane inspection is due");
  ASSERT_TRUE(Eventually([&] { return Find("crane").size() == 1; }));
  int64_t id = Find("crane")[0].document_id;

  fs::rename(config_.inbox_dir / "memo.txt", config_.inbox_dir / "renamed.txt");
  ASSERT_TRUE(Eventually([&] {
    auto h = Find("crane");
    return h.size() == 1 && fs::path(h[0].path).filename() == "renamed.txt";
  }));
  EXPECT_EQ(Find("crane")[0].document_id, id);

  fs::create_directories(config_.inbox_dir / "sub");
  Write(config_.inbox_dir / "sub" / "deep.txt", "a note about lanterns");
  ASSERT_TRUE(Eventually([&] { return Find("lanterns").size() == 1; }));

  fs::remove(config_.inbox_dir / "renamed.txt");
  ASSERT_TRUE(Eventually([&] { return Find("crane").empty(); }));
  fs::rename(config_.inbox_dir / "sub" / "deep.txt", dir_ / "outside.txt");  // moved out
  ASSERT_TRUE(Eventually([&] { return Find("lanterns").empty(); }));
  kb_->StopBackground();
}

TEST_F(IngestTest, AfterARestartTheWatcherCatchesUpByContent) {
  Write(config_.inbox_dir / "kept.txt", "original meadow text");
  Write(config_.inbox_dir / "gone.txt", "ephemeral glacier text");
  ASSERT_TRUE(kb_->StartBackground().ok());
  ASSERT_TRUE(Eventually([&] { return Find("meadow").size() == 1 && Find("glacier").size() == 1; }));
  kb_->StopBackground();

  // While nobody watches: one file changes, one disappears, one appears.
  Write(config_.inbox_dir / "kept.txt", "revised orchard text");
  fs::remove(config_.inbox_dir / "gone.txt");
  Write(config_.inbox_dir / "new.txt", "fresh volcano text");
  Open();
  ASSERT_TRUE(kb_->StartBackground().ok());
  EXPECT_TRUE(Eventually([&] {
    return Find("orchard").size() == 1 && Find("volcano").size() == 1 && Find("meadow").empty() &&
           Find("glacier").empty();
  }));
  kb_->StopBackground();
}

}  // namespace
}  // namespace cloister::app
