#include "cloister/ingest/format.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cloister/core/files.h"
#include "ingest_test_util.h"

namespace cloister::ingest {
namespace {

Format Detect(const std::filesystem::path& p) {
  auto bytes = ReadFile(p);
  EXPECT_TRUE(bytes.ok()) << p;
  return DetectFormat(p, std::string_view(*bytes).substr(0, 4096));
}

TEST(DetectFormatTest, PdfIsRecognisedByContentWhateverItsName) {
  EXPECT_EQ(DetectFormat("scan.txt", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), Format::kPdf);
  EXPECT_EQ(DetectFormat("fake.pdf", "just some words"), Format::kText);
}

TEST(DetectFormatTest, MailMboxHtmlAndMarkdownAreToldApart) {
  EXPECT_EQ(DetectFormat("m", "From: a@b.c\r\nSubject: hi\r\n\r\nbody"), Format::kEmail);
  EXPECT_EQ(DetectFormat("box", "From alice@example.com Mon Jan  1 00:00:00 2024\nFrom: x\n"),
            Format::kMbox);
  EXPECT_EQ(DetectFormat("page.txt", "  <!DOCTYPE html><html><body>x"), Format::kHtml);
  EXPECT_EQ(DetectFormat("notes.md", "# Title\n\ntext"), Format::kMarkdown);
  EXPECT_EQ(DetectFormat("binary.dat", std::string("\x00\x01\x02", 3)), Format::kUnknown);
}

TEST(DetectFormatTest, Utf16TextWithAByteOrderMarkIsReadForSniffing) {
  std::string utf16le("\xff\xfe", 2);
  for (char c : std::string("From: a@b.c\r\nSubject: hi\r\n\r\nbody")) {
    utf16le += c;
    utf16le += '\0';
  }
  EXPECT_EQ(DetectFormat("m.eml", utf16le), Format::kEmail);
}

TEST(DetectFormatTest, ZipContainersAreSplitIntoDocxOdtAndPlainZip) {
  EXPECT_EQ(DetectFormat("a", std::string("PK\x03\x04....word/document.xml")), Format::kDocx);
  EXPECT_EQ(DetectFormat("a", std::string("PK\x03\x04....mimetypeapplication/vnd.oasis.opendocument.text")),
            Format::kOdt);
  EXPECT_EQ(DetectFormat("a", std::string("PK\x03\x04....other.bin")), Format::kZip);
}

TEST(DetectFormatTest, EveryCorpusPdfWithAValidHeaderIsAPdf) {
  int pdfs = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(testing_util::Corpus() / "pdfs")) {
    if (e.path().extension() != ".pdf") continue;
    auto head = ReadFile(e.path());
    ASSERT_TRUE(head.ok());
    if (head->find("%PDF-") > 1024) continue;  // fuzzed or truncated fixtures without a header
    EXPECT_EQ(Detect(e.path()), Format::kPdf) << e.path();
    ++pdfs;
  }
  EXPECT_GT(pdfs, 10);
}

TEST(DetectFormatTest, CorpusEmlFilesAreMail) {
  int mails = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(testing_util::Corpus() / "mail")) {
    if (e.path().extension() != ".eml") continue;
    Format f = Detect(e.path());
    EXPECT_TRUE(f == Format::kEmail || f == Format::kMbox) << e.path() << " " << FormatName(f);
    ++mails;
  }
  EXPECT_GT(mails, 10);
}

}  // namespace
}  // namespace cloister::ingest
