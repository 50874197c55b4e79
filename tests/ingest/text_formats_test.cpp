// ParseText, ParseHtml, ParseDocx and ParseOdt, reached through ParseBytes as a caller would.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cloister/ingest/extract.h"
#include "ingest_test_util.h"
#include "parsers.h"

namespace cloister::ingest {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

Result<ParsedDocument> Parse(std::string_view bytes, const std::string& name,
                             const ExtractOptions& options = {}) {
  return ParseBytes(bytes, name, options, /*depth=*/0);
}

std::string AllText(const ParsedDocument& doc) {
  std::string text;
  for (const auto& b : doc.blocks) text += b.text + "\n\n";
  return text;
}

// --- zip fixtures ------------------------------------------------------------------------------

uint32_t Crc32(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void Put(std::string* out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// A zip entry exactly as written: `payload` compressed with `method` (0 stored, 8 deflate),
// `size` the uncompressed size the headers claim.
struct RawEntry {
  std::string name;
  std::string payload;
  uint16_t method;
  uint32_t crc;
  uint32_t size;
};

// Headers without extra fields or data descriptors: the layout office suites write for the ODT
// "mimetype" entry, which format detection looks for.
std::string RawZip(const std::vector<RawEntry>& entries) {
  std::string zip, directory;
  for (const RawEntry& e : entries) {
    uint32_t offset = static_cast<uint32_t>(zip.size());
    auto common = [&](std::string* out) {
      Put(out, 20, 2), Put(out, 0, 2), Put(out, e.method, 2), Put(out, 0, 2), Put(out, 0x21, 2);
      Put(out, e.crc, 4), Put(out, e.payload.size(), 4), Put(out, e.size, 4);
      Put(out, e.name.size(), 2), Put(out, 0, 2);
    };
    Put(&zip, 0x04034b50, 4), common(&zip);
    zip += e.name + e.payload;
    Put(&directory, 0x02014b50, 4), Put(&directory, 20, 2), common(&directory);
    Put(&directory, 0, 2), Put(&directory, 0, 2), Put(&directory, 0, 2), Put(&directory, 0, 4);
    Put(&directory, offset, 4);
    directory += e.name;
  }
  uint32_t directory_offset = static_cast<uint32_t>(zip.size());
  zip += directory;
  Put(&zip, 0x06054b50, 4), Put(&zip, 0, 2), Put(&zip, 0, 2);
  Put(&zip, entries.size(), 2), Put(&zip, entries.size(), 2);
  Put(&zip, directory.size(), 4), Put(&zip, directory_offset, 4), Put(&zip, 0, 2);
  return zip;
}

std::string StoredZip(const Entries& entries) {
  std::vector<RawEntry> raw;
  for (const auto& [name, data] : entries) {
    raw.push_back({name, data, 0, Crc32(data), static_cast<uint32_t>(data.size())});
  }
  return RawZip(raw);
}

uint32_t Get(const std::string& s, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

la_ssize_t AppendTo(archive*, void* out, const void* data, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

// A deflated zip written by libarchive; `zeros` bytes of zeros are appended to the last entry
// without ever being held in memory. `passphrase` encrypts the entries.
std::string DeflatedZip(const Entries& entries, uint64_t zeros = 0,
                        const char* passphrase = nullptr) {
  std::string out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_zip(a.get());
  archive_write_zip_set_compression_deflate(a.get());
  EXPECT_EQ(archive_write_set_options(a.get(), "zip:compression-level=1"), ARCHIVE_OK);
  if (passphrase) {
    EXPECT_EQ(archive_write_set_options(a.get(), "zip:encryption=zipcrypt"), ARCHIVE_OK);
    EXPECT_EQ(archive_write_set_passphrase(a.get(), passphrase), ARCHIVE_OK);
  }
  EXPECT_EQ(archive_write_open(a.get(), &out, nullptr, AppendTo, nullptr), ARCHIVE_OK);
  for (size_t i = 0; i < entries.size(); ++i) {
    bool last = i + 1 == entries.size();
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), entries[i].first.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(),
                           static_cast<la_int64_t>(entries[i].second.size() + (last ? zeros : 0)));
    EXPECT_EQ(archive_write_header(a.get(), e.get()), ARCHIVE_OK);
    archive_write_data(a.get(), entries[i].second.data(), entries[i].second.size());
    std::string block(1 << 20, '\0');
    for (uint64_t left = last ? zeros : 0; left > 0;
         left -= std::min<uint64_t>(left, block.size())) {
      archive_write_data(a.get(), block.data(), std::min<uint64_t>(left, block.size()));
    }
  }
  archive_write_close(a.get());
  return out;
}

const char* kWordNs = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";

std::string WordParagraph(const std::string& text, const std::string& style = "") {
  std::string p = "<w:p>";
  if (!style.empty())
    p += "<w:pPr><w:pStyle w:val=\"" + style +
         "\"/><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>";
  return p + "<w:r><w:t xml:space=\"preserve\">" + text + "</w:t></w:r></w:p>";
}

std::string WordDocument(const std::string& paragraphs) {
  return std::string(
             "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document ") +
         kWordNs + "><w:body>" + paragraphs + "</w:body></w:document>";
}

const char* kCoreXml =
    "<?xml version=\"1.0\"?><cp:coreProperties "
    "xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\">"
    "<dc:title>Quarterly Plan</dc:title><dc:creator>Ann Example</dc:creator>"
    "<dcterms:created>2024-01-02T03:04:05Z</dcterms:created>"
    "<dcterms:modified>2024-02-03T04:05:06Z</dcterms:modified></cp:coreProperties>";

// A German Word names its heading style "berschrift1": only styles.xml says it is "heading 1".
const char* kStylesXml =
    "<w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
    "<w:style w:type=\"paragraph\" w:styleId=\"berschrift1\"><w:name w:val=\"heading "
    "1\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Titel\"><w:name w:val=\"Title\"/></w:style>"
    "</w:styles>";

std::string SampleDocx() {
  std::string body =
      WordParagraph("Plan for the year", "Titel") + WordParagraph("Intro paragraph.") +
      WordParagraph("Budget", "berschrift1") +
      "<w:p><w:r><w:t>Costs</w:t><w:tab/><w:t>rise</w:t><w:br/><w:t>by 3%.</w:t></w:r></w:p>" +
      "<w:p><w:r><w:delText>deleted words</w:delText><w:t>Kept words.</w:t></w:r></w:p>" +
      WordParagraph("Staff", "Heading2") + WordParagraph("Two hires &amp; one move.");
  return StoredZip({{"[Content_Types].xml", "<Types/>"},
                    {"word/document.xml", WordDocument(body)},
                    {"word/styles.xml", kStylesXml},
                    {"docProps/core.xml", kCoreXml}});
}

// --- plain text and Markdown -------------------------------------------------------------------

TEST(ParseTextTest, Latin1CorpusTextIsDetectedAndDecoded) {
  std::string bytes =
      testing_util::ReadAll(testing_util::Corpus() / "mail/hunnysoft/files/HasenundFrosche.txt");
  auto doc = Parse(bytes, "HasenundFrosche.txt");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, "text");
  EXPECT_EQ(doc->title, "");
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text.rfind("Die Hasen und die Fr\u00f6sche\n\n", 0), 0u);
  EXPECT_NE(doc->blocks[0].text.find("mi\u00dfliche Lage"), std::string::npos);
  EXPECT_NE(doc->Meta("charset").find("8859"), std::string::npos) << doc->Meta("charset");
}

TEST(ParseTextTest, EveryCorpusTextFileGivesText) {
  for (const char* path :
       {"mail/mime4j/mimetools/german-qp_decoded_1.txt",
        "mail/mime4j/basic-plain-very-long-lines_decoded_1.txt", "pdfs/pypdf/crazyones.txt"}) {
    std::string bytes = testing_util::ReadAll(testing_util::Corpus() / path);
    auto doc = Parse(bytes, std::filesystem::path(path).filename());
    ASSERT_TRUE(doc.ok()) << path << ": " << doc.status().ToString();
    ASSERT_EQ(doc->blocks.size(), 1u) << path;
    EXPECT_GT(doc->blocks[0].text.size(), bytes.size() / 2) << path;
    EXPECT_EQ(doc->blocks[0].text.find("\ufffd"), std::string::npos) << path;
  }
}

TEST(ParseTextTest, Utf16WithAByteOrderMarkIsDecoded) {
  std::u16string text = u"Gr\u00fc\u00dfe aus K\u00f6ln\r\nzweite Zeile";
  std::string bytes("\xff\xfe", 2);
  for (char16_t c : text)
    bytes += std::string{static_cast<char>(c & 0xFF), static_cast<char>(c >> 8)};
  auto doc = Parse(bytes, "greeting.txt");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "Gr\u00fc\u00dfe aus K\u00f6ln zweite Zeile");
}

TEST(ParseTextTest, EmptyTextGivesADocumentWithoutBlocks) {
  auto doc = Parse("", "empty.txt");
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->blocks.empty());
}

TEST(ParseTextTest, TenMegabyteSingleLineIsReadWhole) {
  std::string line;
  line.reserve(10 << 20);
  while (line.size() < (10u << 20)) line += "lorem ipsum dolor sit amet ";
  auto doc = Parse(line, "one-line.txt");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text.size(), line.size() - 1);  // the trailing space
}

TEST(ParseTextTest, MarkdownSyntaxInPlainTextIsLeftAsWritten) {
  auto doc = ParseText("# not a heading\n\n*stars* stay", Format::kText);
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "# not a heading\n\n*stars* stay");
  EXPECT_EQ(doc->blocks[0].heading, "");
}

TEST(ParseMarkdownTest, HeadingsSplitTheTextIntoSections) {
  std::string md =
      "Preface line.\n\n# Getting *Started* #\n\nRead the **manual** and [the "
      "guide](https://x.org/g).\n"
      "Keep snake_case_names and 2 * 3 intact.\n\nSetup\n-----\n\n```\n# not a "
      "heading\ncode_here()\n```\n\n"
      "Usage notes\n===========\n\n![diagram](d.png) shows `run()`.\n\n[ref]: https://x.org\n";
  auto doc = Parse(md, "notes.md");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, "markdown");
  EXPECT_EQ(doc->title, "Getting Started");
  ASSERT_EQ(doc->blocks.size(), 4u) << AllText(*doc);
  EXPECT_EQ(doc->blocks[0].heading, "");
  EXPECT_EQ(doc->blocks[0].text, "Preface line.");
  EXPECT_EQ(doc->blocks[1].heading, "Getting Started");
  EXPECT_EQ(
      doc->blocks[1].text,
      "Getting Started\n\nRead the manual and the guide. Keep snake_case_names and 2 * 3 intact.");
  EXPECT_EQ(doc->blocks[2].heading, "Setup");
  EXPECT_EQ(doc->blocks[2].text, "Setup\n\n# not a heading code_here()");
  EXPECT_EQ(doc->blocks[3].heading, "Usage notes");
  EXPECT_EQ(doc->blocks[3].text, "Usage notes\n\ndiagram shows run().");
}

TEST(ParseMarkdownTest, FrontMatterGivesTheTitleAndStaysOutOfTheText) {
  auto doc = Parse(
      "---\ntitle: \"Release notes\"\nauthor: Bo\ndate: 2024-05-06\nlayout: post\n---\nBody.\n",
      "r.md");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->title, "Release notes");
  EXPECT_EQ(doc->author, "Bo");
  EXPECT_EQ(doc->created, "2024-05-06");
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "Body.");
}

TEST(ParseMarkdownTest, ARunawayHeadingIsShortenedButItsTextIsKept) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  auto doc = Parse("# " + words + "\n\nBody.\n", "long-heading.md");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_LE(doc->blocks[0].heading.size(), 300u);
  EXPECT_EQ(doc->blocks[0].heading.rfind("word0 word1 ", 0), 0u);
  EXPECT_NE(doc->blocks[0].text.find("word199\n\nBody."), std::string::npos);
}

TEST(ParseMarkdownTest, ALongLineFullOfBracketsIsReadInLinearTime) {
  std::string md = "# T\n\n" + std::string(2 << 20, '[') + std::string(1 << 20, '*') + "\n";
  auto doc = Parse(md, "brackets.md");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_GT(doc->blocks[0].text.size(), 2u << 20);
}

// --- HTML ----------------------------------------------------------------------------------------

TEST(ParseHtmlTest, ScriptsAndStylesAreDroppedAndTheTitleIsRead) {
  std::string html =
      "<!DOCTYPE html><html><head><title> Team &amp; Plans </title><style>p{color:red}</style>"
      "<script>var secret = 1;</script></head><body><noscript>enable js</noscript>"
      "<p>First <b>para</b>graph\nwrapped.</p><div hidden>invisible</div>"
      "<span style=\"display: none\">gone</span><template><p>tpl</p></template>"
      "<ul><li>one</li><li>two</li></ul><p>Line<br>break</p>"
      "<table><tr><td>a</td><td>b</td></tr></table></body></html>";
  auto doc = Parse(html, "page.html");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, "html");
  EXPECT_EQ(doc->title, "Team & Plans");
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "First paragraph wrapped.\n\none\n\ntwo\n\nLine break\n\na b");
}

TEST(ParseHtmlTest, HeadingsStartNewBlocks) {
  std::string html =
      "<html><body><p>Lead.</p><h1>Overview</h1><p>Text one.</p><h2>Details <i>here</i></h2>"
      "<p>Text two.</p></body></html>";
  auto doc = Parse(html, "page.html");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 3u);
  EXPECT_EQ(doc->title, "Overview");  // no <title>: the first heading
  EXPECT_EQ(doc->blocks[0].heading, "");
  EXPECT_EQ(doc->blocks[1].heading, "Overview");
  EXPECT_EQ(doc->blocks[1].text, "Overview\n\nText one.");
  EXPECT_EQ(doc->blocks[2].heading, "Details here");
  EXPECT_EQ(doc->blocks[2].text, "Details here\n\nText two.");
}

TEST(ParseHtmlTest, MalformedMarkupStillYieldsItsText) {
  std::string html =
      "<html><body><p>Unclosed <b>bold <div>broken</p></span> tail text<p <<>> "
      "<td>stray cell</tr><script>never()";
  auto doc = Parse(html, "broken.html");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  std::string text = AllText(*doc);
  for (const char* word : {"Unclosed", "bold", "broken", "tail text", "stray cell"}) {
    EXPECT_NE(text.find(word), std::string::npos) << word << " in " << text;
  }
  EXPECT_EQ(text.find("never"), std::string::npos);
}

TEST(ParseHtmlTest, MetaCharsetDecodesLatin1Pages) {
  std::string html =
      "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">"
      "</head><body><p>Fr\xf6sche &eacute;t\xe9</p></body></html>";
  auto doc = Parse(html, "latin1.html");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "Fr\u00f6sche \u00e9t\u00e9");
}

TEST(ParseHtmlTest, Utf8PageLabelledLatin1IsStillReadAsUtf8) {
  std::string html =
      "<html><head><meta charset=\"iso-8859-1\"></head><body>K\u00f6ln \u4e2d\u6587</body></html>";
  auto doc = Parse(html, "mislabelled.html");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "K\u00f6ln \u4e2d\u6587");
}

TEST(ParseHtmlTest, ADeclaredUtf16WithoutAByteOrderMarkIsIgnored) {
  std::string html = "<html><head><meta charset=\"utf-16\"></head><body>Plain words</body></html>";
  auto doc = Parse(html, "wide.html");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "Plain words");
}

TEST(HtmlToTextTest, MailBodyBecomesParagraphsWithHeadingsInline) {
  EXPECT_EQ(HtmlToText("<div>Hi Ann,</div><h2>Agenda</h2><p>Budget &amp; staff.<br>Thanks</p>"
                       "<style>p{}</style>"),
            "Hi Ann,\n\nAgenda\n\nBudget & staff. Thanks");
  EXPECT_EQ(HtmlToText("plain text, no tags"), "plain text, no tags");
  EXPECT_EQ(HtmlToText(""), "");
}

TEST(ParseHtmlTest, DeeplyNestedMarkupDoesNotExhaustTheStack) {
  std::string html = "<html><body>";
  for (int i = 0; i < 100000; ++i) html += "<div><span>";
  html += "deep text";
  auto doc = Parse(html, "deep.html");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_NE(AllText(*doc).find("deep text"), std::string::npos);
}

// --- DOCX and ODT --------------------------------------------------------------------------------

TEST(ParseDocxTest, ParagraphsHeadingsAndPropertiesAreRead) {
  auto doc = Parse(SampleDocx(), "plan.docx");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, "docx");
  EXPECT_EQ(doc->title, "Quarterly Plan");
  EXPECT_EQ(doc->author, "Ann Example");
  EXPECT_EQ(doc->created, "2024-01-02T03:04:05Z");
  EXPECT_EQ(doc->modified, "2024-02-03T04:05:06Z");
  EXPECT_TRUE(doc->warnings.empty());
  ASSERT_EQ(doc->blocks.size(), 3u) << AllText(*doc);
  EXPECT_EQ(doc->blocks[0].heading, "Plan for the year");
  EXPECT_EQ(doc->blocks[0].text, "Plan for the year\n\nIntro paragraph.");
  EXPECT_EQ(doc->blocks[1].heading, "Budget");
  EXPECT_EQ(doc->blocks[1].text, "Budget\n\nCosts rise by 3%.\n\nKept words.");
  EXPECT_EQ(doc->blocks[2].heading, "Staff");
  EXPECT_EQ(doc->blocks[2].text, "Staff\n\nTwo hires & one move.");
}

TEST(ParseDocxTest, DeflatedDocxWrittenByAZipLibraryIsRead) {
  std::string zip =
      DeflatedZip({{"word/document.xml", WordDocument(WordParagraph("Deflated body."))}});
  auto doc = Parse(zip, "d.docx");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "Deflated body.");
  EXPECT_EQ(doc->title, "");
}

TEST(ParseDocxTest, MissingDocumentXmlIsInvalidArgument) {
  auto doc = Parse(StoredZip({{"word/other.xml", "<x/>"}}), "empty.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(doc.status().message().find("word/document.xml"), std::string::npos);
}

TEST(ParseDocxTest, TruncatedZipIsInvalidArgument) {
  std::string zip = SampleDocx();
  auto doc = Parse(zip.substr(0, zip.size() / 2), "cut.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << doc.status().ToString();
}

TEST(ParseDocxTest, ZipBombIsRefusedWithoutExpandingIt) {
  // 300 MiB of zeros deflate to about 1.4 MB at level 1: over both the size and ratio limits.
  std::string zip = DeflatedZip({{"word/document.xml", WordDocument("") + "<!--"}}, 300ull << 20);
  ASSERT_LT(zip.size(), 2u << 20);
  auto doc = Parse(zip, "bomb.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(doc.status().message().rfind("zip bomb: word/document.xml would expand to 3145", 0), 0u)
      << doc.status().message();
}

TEST(ParseDocxTest, ZipBombWithAFalseSizeInItsHeadersIsStoppedWhileReading) {
  // The deflated stream of 64 MiB of zeros, re-packed under headers claiming 100 bytes.
  std::string honest = DeflatedZip({{"word/document.xml", WordDocument("") + "<!--"}}, 64ull << 20);
  size_t central = honest.rfind(std::string("PK\x01\x02", 4));
  ASSERT_NE(central, std::string::npos);
  size_t data = 30 + Get(honest, 26, 2) + Get(honest, 28, 2);
  std::string payload = honest.substr(data, Get(honest, central + 20, 4));
  std::string zip = RawZip({{"word/document.xml", payload, 8, Get(honest, central + 16, 4), 100}});
  auto doc = Parse(zip, "liar.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kFailedPrecondition) << doc.status().ToString();
  EXPECT_EQ(doc.status().message().rfind(
                "zip bomb: word/document.xml would expand beyond what its header claims", 0),
            0u)
      << doc.status().message();
}

TEST(ParseDocxTest, PasswordProtectedZipIsFailedPrecondition) {
  std::string zip =
      DeflatedZip({{"word/document.xml", WordDocument(WordParagraph("secret"))}}, 0, "pw");
  auto doc = Parse(zip, "locked.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kFailedPrecondition) << doc.status().ToString();
  EXPECT_NE(doc.status().message().find("encrypted"), std::string::npos);
}

TEST(ParseDocxTest, MalformedXmlKeepsTheTextBeforeTheDamageAsPartial) {
  std::string good;  // enough for the streaming reader to deliver it before meeting the damage
  for (int i = 0; i < 500; ++i) good += WordParagraph("Good part.");
  std::string xml = WordDocument(good + "<w:p><w:r><w:t>cut</w:r>");
  auto doc = Parse(StoredZip({{"word/document.xml", xml}}), "damaged.docx");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_FALSE(doc->blocks.empty());
  EXPECT_EQ(doc->blocks[0].text.rfind("Good part.", 0), 0u);
  ASSERT_EQ(doc->warnings.size(), 1u);
  EXPECT_NE(doc->warnings[0].find("word/document.xml is not well-formed XML at line"),
            std::string::npos)
      << doc->warnings[0];
}

TEST(ParseDocxTest, XmlThatIsNotXmlAtAllIsInvalidArgument) {
  auto doc = Parse(StoredZip({{"word/document.xml", "this is not xml <<"}}), "junk.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(doc.status().message().find("word/document.xml"), std::string::npos);
}

TEST(ParseDocxTest, EntitiesAreNeitherExpandedNorLoaded) {
  std::string xml =
      "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"inserted\">"
      "<!ENTITY x SYSTEM \"file:///etc/passwd\">]><w:document " +
      std::string(kWordNs) +
      "><w:body><w:p><w:r><w:t>Safe &a; &x; text &amp; "
      "more</w:t></w:r></w:p></w:body></w:document>";
  auto doc = Parse(StoredZip({{"word/document.xml", xml}}), "entities.docx");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text, "Safe text & more");
}

TEST(ParseDocxTest, BillionLaughsIsInvalidArgument) {
  std::string dtd = "<!ENTITY l0 \"lol\">";
  for (int i = 1; i < 10; ++i) {
    dtd += "<!ENTITY l" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k) dtd += "&l" + std::to_string(i - 1) + ";";
    dtd += "\">";
  }
  std::string xml = "<?xml version=\"1.0\"?><!DOCTYPE d [" + dtd + "]><w:document " +
                    std::string(kWordNs) + "><w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p>" +
                    "</w:body></w:document>";
  auto doc = Parse(StoredZip({{"word/document.xml", xml}}), "laughs.docx");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(doc.status().message().find("word/document.xml is not well-formed XML"),
            std::string::npos)
      << doc.status().message();
}

TEST(ParseDocxTest, TextBeyondTheLimitIsTruncatedWithAWarning) {
  std::string body;
  for (int i = 0; i < 2000; ++i)
    body += WordParagraph("Paragraph number " + std::to_string(i) + ".");
  ExtractOptions options;
  options.max_text_bytes = 1000;
  auto doc = Parse(StoredZip({{"word/document.xml", WordDocument(body)}}), "long.docx", options);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_LE(AllText(*doc).size(), 1100u);
  ASSERT_EQ(doc->warnings.size(), 1u);
  EXPECT_NE(doc->warnings[0].find("max_text_bytes"), std::string::npos);
}

std::string SampleOdt() {
  const char* ns =
      "xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "
      "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" "
      "xmlns:meta=\"urn:oasis:names:tc:opendocument:xmlns:meta:1.0\" "
      "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"";
  std::string content =
      std::string("<?xml version=\"1.0\"?><office:document-content ") + ns +
      "><office:body><office:text><text:p>Opening words.</text:p>"
      "<text:h text:outline-level=\"1\">Chapter <text:span>One</text:span></text:h>"
      "<text:p>Two<text:s text:c=\"3\"/>spaces<text:tab/>tab<text:line-break/>break.</text:p>"
      "<office:annotation><text:p>a reviewer comment</text:p></office:annotation>"
      "<text:h text:outline-level=\"2\">Section</text:h><text:p>Last.</text:p>"
      "</office:text></office:body></office:document-content>";
  std::string meta =
      std::string("<office:document-meta ") + ns +
      "><office:meta><dc:title>Odt Title</dc:title><meta:initial-creator>Cem</meta:initial-creator>"
      "<dc:creator>Dana</dc:creator><meta:creation-date>2023-05-06T07:08:09</meta:creation-date>"
      "<dc:date>2023-06-07T08:09:10</dc:date></office:meta></office:document-meta>";
  return StoredZip({{"mimetype", "application/vnd.oasis.opendocument.text"},
                    {"content.xml", content},
                    {"meta.xml", meta}});
}

TEST(ParseOdtTest, ParagraphsHeadingsAndPropertiesAreRead) {
  auto doc = Parse(SampleOdt(), "notes.odt");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, "odt");
  EXPECT_EQ(doc->title, "Odt Title");
  EXPECT_EQ(doc->author, "Cem");
  EXPECT_EQ(doc->created, "2023-05-06T07:08:09");
  EXPECT_EQ(doc->modified, "2023-06-07T08:09:10");
  ASSERT_EQ(doc->blocks.size(), 3u) << AllText(*doc);
  EXPECT_EQ(doc->blocks[0].text, "Opening words.");
  EXPECT_EQ(doc->blocks[1].heading, "Chapter One");
  EXPECT_EQ(doc->blocks[1].text, "Chapter One\n\nTwo spaces tab break.");
  EXPECT_EQ(doc->blocks[2].heading, "Section");
  EXPECT_EQ(doc->blocks[2].text, "Section\n\nLast.");
}

TEST(ParseOdtTest, MissingContentXmlIsInvalidArgument) {
  auto doc = Parse(StoredZip({{"mimetype", "application/vnd.oasis.opendocument.text"}}), "x.odt");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(doc.status().message().find("content.xml"), std::string::npos);
}

}  // namespace
}  // namespace cloister::ingest
