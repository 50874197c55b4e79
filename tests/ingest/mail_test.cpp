// Mail extraction (ingest/src/mail*.cpp) on the corpus under corpus/mail and on generated mail.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "charset.h"
#include "parsers.h"
#include "cloister/ingest/extract.h"
#include "ingest_test_util.h"

namespace cloister::ingest {
namespace {

namespace fs = std::filesystem;
using testing_util::Corpus;
using testing_util::ReadAll;
using testing_util::ScratchDir;

fs::path Mail(const std::string& relative) { return Corpus() / "mail" / relative; }

Result<ParsedDocument> ParseMailFile(const std::string& relative, ExtractOptions options = {}) {
  return ParseEmail(ReadAll(Mail(relative)), options, 0);
}

// All body text of `doc` itself (not its children).
std::string Text(const ParsedDocument& doc) {
  std::string out;
  for (const TextBlock& block : doc.blocks) out += block.text + "\n";
  return out;
}

std::string Warnings(const ParsedDocument& doc) {
  std::string out;
  for (const std::string& warning : doc.warnings) out += warning + "\n";
  return out;
}

const ParsedDocument* Child(const ParsedDocument& doc, const std::string& name) {
  for (const ParsedDocument& child : doc.children) {
    if (child.name == name) return &child;
  }
  return nullptr;
}

void WriteFile(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

// Collects what a streaming function emits.
struct Collector {
  std::vector<ParsedDocument> docs;
  Emit emit() {
    return [this](ParsedDocument doc) {
      docs.push_back(std::move(doc));
      return Status::Ok();
    };
  }
};

TEST(MailCorpusTest, EveryCorpusMailFileIngestsOrFailsAsUnsupportedOutlookMsg) {
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(Corpus() / "mail")) {
    std::string ext = entry.path().extension().string();
    if (ext != ".eml" && ext != ".msg" && ext != ".mbox" && ext != ".txt") continue;
    ++files;
    int emitted = 0;
    Status status = ExtractFile(entry.path(), {}, [&](ParsedDocument) {
      ++emitted;
      return Status::Ok();
    });
    // Outlook .msg files are OLE2 binaries, not RFC 5322 text.
    bool outlook = ReadAll(entry.path()).rfind("\xD0\xCF\x11\xE0", 0) == 0;
    if (outlook) {
      EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << entry.path();
      EXPECT_NE(status.message().find("unsupported format"), std::string::npos) << status.message();
    } else {
      EXPECT_TRUE(status.ok()) << entry.path() << ": " << status.ToString();
      EXPECT_GE(emitted, 1) << entry.path();
    }
  }
  EXPECT_GE(files, 50);
}

TEST(ParseEmailTest, EncodedWordSubjectsAreDecodedInAnyCharset) {
  auto cyrillic = ParseMailFile("thunderbird/sample05.eml");  // windows-1251, B encoding
  ASSERT_TRUE(cyrillic.ok()) << cyrillic.status().ToString();
  EXPECT_EQ(cyrillic->title, "Алфавит");
  EXPECT_EQ(cyrillic->Meta("subject"), "Алфавит");
  auto two_charsets = ParseMailFile("php-mime-mail-parser/m0023.eml");  // ISO-8859-1 + -2 words
  ASSERT_TRUE(two_charsets.ok());
  EXPECT_EQ(two_charsets->title, "If you can read this you understand the example.");
  auto korean = ParseMailFile("mikel-mail/raw_email_euc-kr.eml");  // EUC-KR, Q encoding
  ASSERT_TRUE(korean.ok());
  EXPECT_EQ(korean->title, "NOTE: 한국말로 하는 것");
  auto utf7 = ParseMailFile("hunnysoft/m0006.txt");
  ASSERT_TRUE(utf7.ok());
  EXPECT_EQ(utf7->title, "Die Hasen und die Frösche (Microsoft Outlook 00)");
}

TEST(ParseEmailTest, BrokenEncodedWordDoesNotFailTheMessage) {
  auto doc = ParseMailFile("mikel-mail/bad_encoded_subject.eml");  // =?NONE?B?VEVTVA=?=
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_FALSE(doc->title.empty());
  EXPECT_NE(Text(*doc).find("TEST"), std::string::npos);
}

TEST(ParseEmailTest, HeadersBecomeMetadataIncludingThreading) {
  auto doc = ParseMailFile("mikel-mail/content_transfer_encoding_x_uuencode.eml");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->format, "email");
  EXPECT_EQ(doc->title, "PGP Comments on RTO West Release of Dec. 14");
  EXPECT_EQ(doc->author, "\"Lon L. Peters\" <lpeters@PACIFIER.COM>");
  EXPECT_EQ(doc->created, "2002-01-10T21:59:53Z");  // Thu, 10 Jan 2002 13:59:53 -0800
  EXPECT_EQ(doc->Meta("date"), "2002-01-10T21:59:53Z");
  EXPECT_EQ(doc->Meta("from"), doc->author);
  EXPECT_EQ(doc->Meta("to"), "RRGA-L@LIST.RTOWEST.ORG");
  EXPECT_EQ(doc->Meta("message_id"), "p05100307b863befdfb67@[207.202.136.216]");
  EXPECT_EQ(doc->Meta("in_reply_to"), "1168BAF252B7D41194810001028D743108913C@SERVER");
  EXPECT_EQ(doc->Meta("references"), "1168BAF252B7D41194810001028D743108913C@SERVER");
  for (const auto& [key, value] : doc->metadata) {
    EXPECT_TRUE(key == "from" || key == "to" || key == "cc" || key == "date" || key == "subject" ||
                key == "message_id" || key == "in_reply_to" || key == "references")
        << key;
  }
}

TEST(ParseEmailTest, ReferencesListEveryMessageIdSpaceSeparated) {
  std::string mail =
      "From: a@example.com\r\nSubject: Re: plan\r\nIn-Reply-To: <b@x.org>\r\n"
      "References: <a@x.org>\r\n <b@x.org>\r\n\r\nYes.\r\n";
  auto doc = ParseEmail(mail, {}, 0);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Meta("in_reply_to"), "b@x.org");
  EXPECT_EQ(doc->Meta("references"), "a@x.org b@x.org");
  EXPECT_EQ(doc->Meta("cc"), "");  // absent headers are left out
  EXPECT_EQ(doc->created, "");
}

TEST(ParseEmailTest, HtmlOnlyMessageBecomesTextWithoutTags) {
  auto doc = ParseMailFile("unstructured/mime-html-only.eml");
  ASSERT_TRUE(doc.ok());
  std::string text = Text(*doc);
  EXPECT_NE(text.find("This is a text/html part."), std::string::npos) << text;
  EXPECT_NE(text.find("Scott Fahlman"), std::string::npos);
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
}

TEST(ParseEmailTest, AlternativeTakesOnlyThePlainVersion) {
  auto doc = ParseMailFile("unstructured/fake-email-attachment.eml");
  ASSERT_TRUE(doc.ok());
  std::string text = Text(*doc);
  EXPECT_NE(text.find("Here's the attachments!"), std::string::npos) << text;
  EXPECT_EQ(text.find("Here&#39;s"), std::string::npos);
  EXPECT_EQ(text.find("Mallori", text.find("Mallori") + 1), std::string::npos) << "read twice";
}

TEST(ParseEmailTest, TextAttachmentBecomesAChildDocument) {
  auto doc = ParseMailFile("unstructured/fake-email-attachment.eml");
  ASSERT_TRUE(doc.ok());
  const ParsedDocument* child = Child(*doc, "fake-attachment.txt");
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->format, "text");
  EXPECT_NE(Text(*child).find("Hey this is a fake attachment!"), std::string::npos);
  EXPECT_TRUE(doc->warnings.empty()) << Warnings(*doc);
}

// Needs the real PDF parser (pdf.cpp): the attachment is a 140 KB PDF sent as octet-stream.
TEST(ParseEmailTest, PdfAttachmentBecomesAChildWithItsText) {
  auto doc = ParseMailFile("mail-parser/mail_test_10.eml");
  ASSERT_TRUE(doc.ok());
  const ParsedDocument* pdf = Child(*doc, "Move To Eight ZWEP6227F.pdf");
  ASSERT_NE(pdf, nullptr) << Warnings(*doc);
  EXPECT_EQ(pdf->format, "pdf");
  EXPECT_NE(Text(*pdf).find("Move to Eight"), std::string::npos);
  EXPECT_NE(Text(*doc).find("Gentili Business Partner"), std::string::npos);
}

TEST(ParseEmailTest, UnreadableAttachmentsAreWarningsNamingThemNotFailures) {
  auto tnef = ParseMailFile("hunnysoft/m4006.txt");
  ASSERT_TRUE(tnef.ok());
  EXPECT_NE(Warnings(*tnef).find("attachment 'winmail.dat' skipped: unsupported format"),
            std::string::npos)
      << Warnings(*tnef);
  auto empty = ParseMailFile("mikel-mail/content_transfer_encoding_x_uuencode.eml");
  ASSERT_TRUE(empty.ok());
  EXPECT_NE(Warnings(*empty).find("'PGP_Cmts_on_12-14-01_Pkg.doc' skipped: it is empty"),
            std::string::npos);
}

TEST(ParseEmailTest, ImagesAreSkippedWithoutWarnings) {
  auto doc = ParseMailFile("mime4j/mimetools/multi-2evil.msg");  // two image/gif parts
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->children.empty());
  EXPECT_TRUE(doc->warnings.empty()) << Warnings(*doc);
  EXPECT_NE(Text(*doc).find("this message should produce two GIF files"), std::string::npos);
}

TEST(ParseEmailTest, Base64EncodedNestedMessagesBecomeChildren) {
  auto doc = ParseMailFile("mime4j/base64encoded-rfc822message-nested.msg");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->children.size(), 1u);
  const ParsedDocument& inner = doc->children[0];
  EXPECT_EQ(inner.format, "email");
  EXPECT_EQ(inner.title, "a simple rfc822 message encoded in a base64 body.");
  ASSERT_EQ(inner.children.size(), 1u);
  EXPECT_EQ(inner.children[0].format, "email");
  EXPECT_NE(Text(inner.children[0]).find("Text body"), std::string::npos);
  EXPECT_EQ(Text(inner.children[0]).find("Content-Type"), std::string::npos);
}

// A chain of `levels` messages, each attached (message/rfc822) to the one before.
std::string NestedMessages(int levels) {
  std::string mail = "From: bottom@example.com\nSubject: level " + std::to_string(levels) +
                     "\n\nthe innermost text\n";
  for (int i = levels - 1; i >= 0; --i) {
    mail = "From: a@example.com\nSubject: level " + std::to_string(i) +
           "\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b" + std::to_string(i) +
           "\"\n\n--b" + std::to_string(i) + "\nContent-Type: message/rfc822\n\n" + mail + "\n--b" +
           std::to_string(i) + "--\n";
  }
  return mail;
}

TEST(ParseEmailTest, AttachedMessagesDeeperThanMaxDepthAreWarnings) {
  ExtractOptions options;
  options.max_depth = 3;
  auto doc = ParseEmail(NestedMessages(6), options, 0);
  ASSERT_TRUE(doc.ok());
  const ParsedDocument* level = &doc.value();
  for (int depth = 1; depth <= 3; ++depth) {
    ASSERT_EQ(level->children.size(), 1u) << "depth " << depth;
    level = &level->children[0];
    EXPECT_EQ(level->title, "level " + std::to_string(depth));
  }
  EXPECT_TRUE(level->children.empty());
  EXPECT_NE(Warnings(*level).find("nested deeper than 3 levels (ingest.max_depth)"),
            std::string::npos)
      << Warnings(*level);
}

TEST(ParseEmailTest, DeeplyNestedMimeIsBoundedWithAWarning) {
  std::string mail = "Content-Type: text/plain\n\nthe innermost text\n";
  for (int i = 0; i < 400; ++i) {
    std::string b = "b" + std::to_string(i);
    mail = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\n\n--" + b + "\n" + mail +
           "\n--" + b + "--\n";
  }
  auto doc = ParseEmail("From: a@example.com\nSubject: deep\nMIME-Version: 1.0\n" + mail, {}, 0);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->title, "deep");
  EXPECT_NE(Warnings(*doc).find("nested deeper than 64 levels"), std::string::npos)
      << Warnings(*doc);
  for (const char* file :
       {"mimekit/stack-overflow.eml", "mikel-mail/raw_email_encoded_stack_level_too_deep.eml"}) {
    auto corpus = ParseMailFile(file);
    ASSERT_TRUE(corpus.ok()) << file;
    EXPECT_FALSE(Text(*corpus).empty()) << file;
  }
}

TEST(ParseEmailTest, WrongOrMissingCharsetsAreDetected) {
  auto shift_jis = ParseMailFile("mikel-mail/japanese_shift_jis.eml");
  ASSERT_TRUE(shift_jis.ok());
  EXPECT_NE(Text(*shift_jis).find("このメールはテスト用のメールです。"), std::string::npos);
  auto euc_kr = ParseMailFile("mikel-mail/raw_email_euc-kr.eml");
  ASSERT_TRUE(euc_kr.ok());
  EXPECT_NE(Text(*euc_kr).find("우리는 하나님을 믿습니다"), std::string::npos);
  // Declared us-ascii, actually UTF-8.
  auto utf8 = ParseMailFile("enmime/incorrect-charset.eml");
  ASSERT_TRUE(utf8.ok());
  EXPECT_NE(Text(*utf8).find("∮ E⋅da = Q"), std::string::npos);
  // A MIME part declared us-ascii whose body is Big5.
  auto big5 = ParseEmail("From: a@example.com\r\nSubject: big5\r\nMIME-Version: 1.0\r\n" +
                             ReadAll(Mail("enmime/chardet-success-big-5.part")),
                         {}, 0);
  ASSERT_TRUE(big5.ok());
  EXPECT_NE(Text(*big5).find("顏是家訓"), std::string::npos);
  EXPECT_NE(Text(*big5).find("夫九州之人，言語不同"), std::string::npos);
}

TEST(ParseEmailTest, Utf16MessageIsReadAfterConversion) {
  auto doc = ParseMailFile("unstructured/fake-email-utf-16-le.eml");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->title, "Test Email");
  EXPECT_NE(Text(*doc).find("Roses are red"), std::string::npos);
}

TEST(ParseEmailTest, EncodedAttachmentNamesAreDecoded) {
  auto doc = ParseMailFile("mime4j/russian-headers.msg");  // koi8-r word in filename="..."
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->children.size(), 1u);
  EXPECT_EQ(doc->children[0].name, "Список.doc");
}

TEST(ParseEmailTest, PathComponentsAreStrippedFromAttachmentNames) {
  // The disposition line of corpus multi-2evil.msg, on a text part.
  std::string evil = ReadAll(Mail("mime4j/mimetools/multi-2evil.msg"));
  size_t at = evil.find("Content-Disposition: inline; filename=\"/evil/");
  ASSERT_NE(at, std::string::npos);
  std::string disposition = evil.substr(at, evil.find('\n', at) - at);
  std::string mail =
      "From: a@example.com\nSubject: names\nMIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=\"x\"\n\n"
      "--x\nContent-Type: text/plain\n" +
      disposition +
      "\n\nfirst\n"
      "--x\nContent-Type: text/plain\nContent-Disposition: attachment; "
      "filename=\"../../etc/passwd\"\n\nsecond\n"
      "--x\nContent-Type: text/plain\nContent-Disposition: attachment; "
      "filename=\"..\\\\..\\\\boot.ini\"\n\nthird\n--x--\n";
  auto doc = ParseEmail(mail, {}, 0);
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->children.size(), 3u) << Warnings(*doc);
  for (const ParsedDocument& child : doc->children) {
    EXPECT_EQ(child.name.find_first_of("/\\:"), std::string::npos) << child.name;
    EXPECT_NE(child.name.rfind("..", 0), 0u) << child.name;
  }
  // GMime reads each quoted backslash as an escape and decodes the encoded words.
  EXPECT_EQ(doc->children[0].name, "ofpath3d-compress.gif");
  EXPECT_EQ(doc->children[1].name, "passwd");
  EXPECT_EQ(doc->children[2].name, "boot.ini");
}

TEST(ParseEmailTest, MalformedMimeStillYieldsTheRecoverableText) {
  struct Case {
    const char* file;
    const char* text;
  };
  for (const Case& c : std::vector<Case>{
           {"enmime/bad-final-boundary.eml", "A text section"},
           {"enmime/malformed-base64-attach.eml", "A text section"},
           {"enmime/mime-bad-content-transfer-encoding.eml", "ploozdect  nispplul"},
           {"mikel-mail/raw_email_with_illegal_boundary.eml", "This is an outlook test"},
           {"mime4j/missing-inner-boundary.msg", "Foo"},
           {"mime4j/boundary-name-clash.msg", "Please see attachment for report"},
           {"mime4j/mimetools/badbound.msg", "This Message was undeliverable"},
           {"mail-parser/mail_malformed_3.eml", "Secador Toallero"},
       }) {
    auto doc = ParseMailFile(c.file);
    ASSERT_TRUE(doc.ok()) << c.file << ": " << doc.status().ToString();
    EXPECT_NE(Text(*doc).find(c.text), std::string::npos) << c.file << ":\n" << Text(*doc);
  }
  auto attachment = ParseMailFile("enmime/malformed-base64-attach.eml");  // "PGh0*bWw+Cg=="
  ASSERT_TRUE(attachment.ok());
  EXPECT_NE(Child(*attachment, "some.doc"), nullptr) << Warnings(*attachment);
  auto recovered = ParseMailFile("mail-parser/mail_malformed_3.eml");
  EXPECT_NE(Warnings(*recovered).find("malformed MIME"), std::string::npos);
}

TEST(ParseEmailTest, VeryLongLinesAreKeptWhole) {
  auto doc = ParseMailFile("mime4j/basic-plain-very-long-lines.msg");
  ASSERT_TRUE(doc.ok());
  std::string expected = ReadAll(Mail("mime4j/basic-plain-very-long-lines_decoded_1.txt"));
  ASSERT_EQ(doc->blocks.size(), 1u);
  EXPECT_EQ(doc->blocks[0].text.substr(0, expected.size()), expected);
}

TEST(ParseEmailTest, InputWithoutHeadersIsInvalidArgument) {
  for (std::string garbage : {std::string("just some words\nand more\n"), std::string(""),
                              std::string("\x01\x02\x03\x00\xff", 5)}) {
    auto doc = ParseEmail(garbage, {}, 0);
    ASSERT_FALSE(doc.ok());
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(doc.status().message().rfind("not a mail message: ", 0), 0u)
        << doc.status().message();
  }
}

TEST(StreamMboxTest, ContentLengthMailboxYieldsEveryMessageInOrder) {
  Collector out;
  ASSERT_TRUE(StreamMbox(Mail("mimekit/content-length.mbox"), {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 29u);
  for (size_t i = 0; i < out.docs.size(); ++i) {
    EXPECT_EQ(out.docs[i].name, "content-length.mbox#" + std::to_string(i + 1));
    EXPECT_EQ(out.docs[i].format, "email");
  }
  EXPECT_EQ(out.docs[0].title, "Re: mailusr1@navstar1 3.0b6gold #1");
  EXPECT_EQ(out.docs[1].title, "attached image cache test (test 2: inline disposition)");
  // Message 2 holds a message in a message in a message.
  const ParsedDocument* deepest = &out.docs[1];
  while (!deepest->children.empty()) deepest = &deepest->children.back();
  EXPECT_NE(Text(*deepest).find("Foo!"), std::string::npos);
}

TEST(StreamMboxTest, UnescapedFromLinesInBodiesStayInTheirMessage) {
  Collector out;  // mboxo with "From Russia with love" body lines and a UTF-8 byte-order mark
  ASSERT_TRUE(StreamMbox(Mail("mimekit/unmunged.mbox"), {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 2u);
  EXPECT_EQ(out.docs[0].title, "This is a test message with an unmunged From line");
  EXPECT_NE(Text(out.docs[0]).find("From Russia with love"), std::string::npos);
  EXPECT_NE(Text(out.docs[0]).find("What does Thunderbird do?"), std::string::npos);
  EXPECT_EQ(out.docs[1].title, "Another test message with an unmunged From line");
  EXPECT_NE(Text(out.docs[1]).find("Year: 1963"), std::string::npos);
  EXPECT_EQ(out.docs[1].name, "unmunged.mbox#2");
}

TEST(StreamMboxTest, EscapedFromLinesLoseOneQuoteMark) {
  ScratchDir dir;
  WriteFile(dir / "rd.mbox",
            "From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\nSubject: rd\n\n"
            "first\n>From here\n>>From there\n> From a quote\n");
  Collector out;
  ASSERT_TRUE(StreamMbox(dir / "rd.mbox", {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 1u);
  std::string text = Text(out.docs[0]);
  EXPECT_NE(text.find("\nFrom here\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n>From there\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n> From a quote"), std::string::npos) << text;
}

// Found by fuzz_mbox: the "From " line and header-like lines of an unescaped piece were joined
// to the message before as raw bytes, so a Latin-1 body gave that message invalid UTF-8 text.
TEST(StreamMboxTest, UnescapedFromLinePieceInAnotherCharsetIsJoinedAsUtf8) {
  ScratchDir dir;
  WriteFile(dir / "latin1.mbox",
            "From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\nSubject: s\n"
            "Content-Type: text/plain; charset=iso-8859-1\n\nfirst\n\n"
            "From Caf\xe9 with love\nYear: 19\xe9\xe963\n\nStill the first message.\n");
  Collector out;
  ASSERT_TRUE(StreamMbox(dir / "latin1.mbox", {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 1u);
  std::string text = Text(out.docs[0]);
  EXPECT_TRUE(IsValidUtf8(text)) << text;
  EXPECT_NE(text.find("with love"), std::string::npos) << text;
  EXPECT_NE(text.find("Still the first message."), std::string::npos) << text;
}

TEST(StreamMboxTest, ThreeThousandMessagesAreEmittedOneByOneInOrder) {
  ScratchDir dir;
  {
    std::ofstream mbox(dir / "big.mbox", std::ios::binary);
    for (int i = 1; i <= 3000; ++i) {
      mbox << "From sender@example.com Mon Jan  1 00:00:00 2024\nFrom: sender@example.com\n"
           << "Subject: message " << i << "\nMessage-ID: <" << i << "@example.com>\n\n"
           << "Body of message " << i << ".\n\n";
    }
  }
  int count = 0;
  Status status = StreamMbox(dir / "big.mbox", {}, [&](ParsedDocument doc) {
    ++count;
    EXPECT_EQ(doc.name, "big.mbox#" + std::to_string(count));
    EXPECT_EQ(doc.title, "message " + std::to_string(count));
    EXPECT_EQ(Text(doc).rfind("Body of message " + std::to_string(count) + ".\n", 0), 0u);
    return Status::Ok();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(count, 3000);
}

TEST(StreamMboxTest, HeaderlessFirstPieceIsSkippedWithAWarningOnTheNextMessage) {
  ScratchDir dir;
  WriteFile(dir / "odd.mbox",
            "From nobody\n\nno headers here\n\nFrom b@example.com\nFrom: b@example.com\n"
            "Subject: real\n\nbody\n");
  Collector out;
  ASSERT_TRUE(StreamMbox(dir / "odd.mbox", {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 1u);
  EXPECT_EQ(out.docs[0].name, "odd.mbox#2");
  EXPECT_NE(Warnings(out.docs[0]).find("mailbox message #1 of odd.mbox skipped"),
            std::string::npos);
}

TEST(StreamMboxTest, FileWithoutAnyMessageIsInvalidArgument) {
  ScratchDir dir;
  WriteFile(dir / "empty.mbox", "");
  WriteFile(dir / "text.mbox", "no From line anywhere\n");
  for (const char* name : {"empty.mbox", "text.mbox"}) {
    Collector out;
    Status status = StreamMbox(dir / name, {}, out.emit());
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(status.message().find("not an mbox file"), std::string::npos) << status.message();
    EXPECT_TRUE(out.docs.empty());
  }
}

TEST(StreamMboxTest, MissingFileIsNotFound) {
  Collector out;
  Status status = StreamMbox("/nonexistent/box.mbox", {}, out.emit());
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("/nonexistent/box.mbox"), std::string::npos);
}

TEST(StreamMboxTest, EmitErrorStopsReadingAndIsReturned) {
  int calls = 0;
  Status status = StreamMbox(Mail("mimekit/content-length.mbox"), {}, [&](ParsedDocument) {
    ++calls;
    return calls == 3 ? Unavailable("store is busy") : Status::Ok();
  });
  EXPECT_EQ(status, Unavailable("store is busy"));
  EXPECT_EQ(calls, 3);
}

// A Maildir of corpus messages, plus files that are not messages of it.
fs::path MakeMaildir(const ScratchDir& scratch) {
  fs::path dir = scratch / "Mail";
  WriteFile(dir / "cur" / "1700000002.host:2,S", ReadAll(Mail("php-mime-mail-parser/m0023.eml")));
  WriteFile(dir / "cur" / "1700000001.host:2,", ReadAll(Mail("thunderbird/sample05.eml")));
  WriteFile(dir / "new" / "1700000003.host", ReadAll(Mail("mikel-mail/japanese_shift_jis.eml")));
  WriteFile(dir / "tmp" / "1700000004.host", "From: partial delivery\n");
  fs::create_directories(dir / "cur" / "subfolder");
  return dir;
}

TEST(StreamMaildirTest, MessagesOfCurAndNewAreEmittedSortedByName) {
  ScratchDir scratch;
  fs::path dir = MakeMaildir(scratch);
  EXPECT_TRUE(IsMaildir(dir));
  Collector out;
  ASSERT_TRUE(ExtractFile(dir, {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 3u);
  EXPECT_EQ(out.docs[0].name, "cur/1700000001.host:2,");
  EXPECT_EQ(out.docs[0].title, "Алфавит");
  EXPECT_EQ(out.docs[1].name, "cur/1700000002.host:2,S");
  EXPECT_EQ(out.docs[2].name, "new/1700000003.host");
  EXPECT_NE(Text(out.docs[2]).find("このメールはテスト用のメールです。"), std::string::npos);
}

TEST(StreamMaildirTest, UnreadableMessageIsAWarningAndOnlyUnreadableMessagesFail) {
  ScratchDir scratch;
  fs::path dir = MakeMaildir(scratch);
  WriteFile(dir / "new" / "1700000000.junk", "\x01\x02 not mail at all");
  Collector out;
  ASSERT_TRUE(StreamMaildir(dir, {}, out.emit()).ok());
  ASSERT_EQ(out.docs.size(), 3u);
  std::string warnings;
  for (const ParsedDocument& doc : out.docs) warnings += Warnings(doc);
  EXPECT_NE(warnings.find("Maildir message new/1700000000.junk skipped: not a mail message"),
            std::string::npos)
      << warnings;

  ScratchDir bad;
  WriteFile(bad / "cur" / "1", "garbage");
  fs::create_directories(bad / "new");
  fs::create_directories(bad / "tmp");
  Status status = StreamMaildir(bad.path(), {}, out.emit());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("cur/1"), std::string::npos) << status.message();
}

TEST(StreamMaildirTest, FolderWithoutCurNewAndTmpIsNotAMaildir) {
  ScratchDir scratch;
  fs::create_directories(scratch / "cur");
  fs::create_directories(scratch / "new");
  EXPECT_FALSE(IsMaildir(scratch.path()));
  Status status = ExtractFile(scratch.path(), {}, [](ParsedDocument) { return Status::Ok(); });
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloister::ingest
