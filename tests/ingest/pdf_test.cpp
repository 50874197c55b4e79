// PDF extraction (ingest/src/pdf.cpp) on the corpus under corpus/pdfs.
#include <gtest/gtest.h>

#include <map>

#include "cloister/ingest/chunk.h"
#include "ingest_test_util.h"
#include "parsers.h"

namespace cloister::ingest {
namespace {

using testing_util::Corpus;
using testing_util::ReadAll;

Result<ParsedDocument> Parse(const std::string& rel, ExtractOptions options = {}) {
  std::string bytes = ReadAll(Corpus() / "pdfs" / rel);
  EXPECT_FALSE(bytes.empty()) << rel;
  return ParsePdf(bytes, options);
}

// Whitespace collapsed, as the pipeline's normaliser would leave it.
std::string PageText(const ParsedDocument& doc, int page) {
  std::string all;
  for (const auto& b : doc.blocks) {
    if (b.page == page) all += b.text + "\n";
  }
  std::string out;
  bool space = false;
  for (char c : all) {
    bool ws = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
    if (ws) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

TEST(ParsePdfTest, EveryCorpusPdfParsesOrFailsAsCorruptOrEncrypted) {
  int parsed = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(Corpus() / "pdfs")) {
    if (e.path().extension() != ".pdf") continue;
    auto doc = ParsePdf(ReadAll(e.path()), {.ocr = false});
    if (doc.ok()) {
      ++parsed;
      EXPECT_EQ(doc->format, "pdf");
      for (const auto& b : doc->blocks) EXPECT_GE(b.page, 1) << e.path();
      continue;
    }
    StatusCode code = doc.status().code();
    EXPECT_TRUE(code == StatusCode::kInvalidArgument || code == StatusCode::kFailedPrecondition)
        << e.path() << ": " << doc.status().ToString();
  }
  EXPECT_GE(parsed, 40);
}

TEST(ParsePdfTest, EncryptedFilesNeedTheirPasswordAndOpenWithIt) {
  const std::map<std::string, std::string> passwords = {
      {"pdfminer/rc4-40.pdf", "baz"},
      {"pypdf/crazyones-encrypted-256.pdf", "password"},
      {"sample-files/libreoffice-writer-password.pdf", "openpassword"},
      {"qpdf/enc-XI-long-password.pdf",
       "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm"
       "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcv"}};
  for (const auto& [file, password] : passwords) {
    auto refused = Parse(file, {.ocr = false});
    ASSERT_FALSE(refused.ok()) << file;
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << file;
    EXPECT_NE(refused.status().message().find("encrypted"), std::string::npos);
    EXPECT_NE(refused.status().message().find("ingest.pdf_passwords"), std::string::npos);
    auto opened = Parse(file, {.ocr = false, .pdf_passwords = {"wrong", password}});
    ASSERT_TRUE(opened.ok()) << file << ": " << opened.status().ToString();
    EXPECT_GE(opened->page_count, 1);
  }
  auto crazy = Parse("pypdf/crazyones-encrypted-256.pdf", {.ocr = false, .pdf_passwords = {"password"}});
  ASSERT_TRUE(crazy.ok());
  // The apostrophe has no Unicode mapping in this file; pdftotext drops it too.
  EXPECT_NE(PageText(*crazy, 1).find("to the crazy ones. The misfits."), std::string::npos)
      << PageText(*crazy, 1);
}

TEST(ParsePdfTest, FilesWithAnEmptyUserPasswordOpenWithoutOne) {
  EXPECT_TRUE(Parse("pypdf/r6-user-password.pdf", {.ocr = false}).ok());
  EXPECT_TRUE(Parse("pdfjs/secHandler.pdf", {.ocr = false}).ok());
}

TEST(ParsePdfTest, EveryBlockCarriesItsPageNumber) {
  auto doc = Parse("pdfjs/tracemonkey.pdf", {.ocr = false});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->page_count, 14);
  EXPECT_NE(PageText(*doc, 3).find("LIR snippet for sample program"), std::string::npos);
  EXPECT_EQ(PageText(*doc, 2).find("Figure 3. LIR snippet"), std::string::npos);
}

TEST(ParsePdfTest, TwoColumnPagesAreReadColumnByColumn) {
  auto doc = Parse("pdfjs/tracemonkey.pdf", {.ocr = false});
  ASSERT_TRUE(doc.ok());
  // This sentence runs down the left column over three lines; a line-by-line reading would
  // interleave the right column into it.
  EXPECT_NE(PageText(*doc, 1).find("Since no concrete type information is available, traditional "
                                   "compilers need to emit generic code that can handle all "
                                   "possible type combinations at runtime."),
            std::string::npos)
      << PageText(*doc, 1).substr(0, 1500);
}

TEST(ParsePdfTest, TitleAuthorAndDatesComeFromTheDocumentInfo) {
  auto doc = Parse("pdfjs/freeculture.pdf", {.max_pages = 2, .ocr = false});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->title, "Free Culture");
  EXPECT_EQ(doc->author, "Lawrence Lessig");
  EXPECT_EQ(doc->created, "2004-02-10T21:36:42Z");
}

TEST(ParsePdfTest, ABrokenFileThatOpensButHasNoTextIsPartialWithAWarning) {
  // Hundreds of broken xref entries: poppler repairs enough to open it, but finds no text (as
  // pdftotext does not).
  auto doc = Parse("sample-files/unreadablemetadata.pdf", {.ocr = false});
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_TRUE(doc->blocks.empty());
  ASSERT_FALSE(doc->warnings.empty());
  EXPECT_NE(doc->warnings.back().find("no text"), std::string::npos) << doc->warnings.back();
}

TEST(ParsePdfTest, ScannedPagesAreRecognisedAndMarkedAsOcr) {
  auto doc = Parse("ocrmypdf/francais.pdf");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_FALSE(doc->blocks.empty());
  EXPECT_TRUE(doc->blocks[0].ocr);
  EXPECT_NE(PageText(*doc, 1).find("whisky"), std::string::npos) << PageText(*doc, 1);
  auto without = Parse("ocrmypdf/francais.pdf", {.ocr = false});
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->blocks.empty());
}

TEST(ParsePdfTest, PagesBeyondTheLimitAreSkippedWithAWarning) {
  auto doc = Parse("pdfjs/tracemonkey.pdf", {.max_pages = 3, .ocr = false});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->page_count, 14);
  for (const auto& b : doc->blocks) EXPECT_LE(b.page, 3);
  ASSERT_EQ(doc->warnings.size(), 1u);
  EXPECT_NE(doc->warnings[0].find("3 of 14"), std::string::npos) << doc->warnings[0];
}

TEST(ParsePdfTest, TruncatedFilesFailOrYieldWhatSurvivesWithoutCrashing) {
  std::string bytes = ReadAll(Corpus() / "pdfs" / "pdfjs" / "tracemonkey.pdf");
  for (size_t cut : {size_t{10}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 100}) {
    auto doc = ParsePdf(std::string_view(bytes).substr(0, cut), {.ocr = false});
    if (!doc.ok()) EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << cut;
  }
  EXPECT_EQ(ParsePdf("%PDF-1.7 garbage", {}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloister::ingest
