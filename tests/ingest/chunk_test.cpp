#include "cloister/ingest/chunk.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cloister::ingest {
namespace {

int CountWords(std::string_view s) {
  std::istringstream in{std::string(s)};
  int n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

ParsedDocument Doc(std::vector<TextBlock> blocks, std::string format = "text") {
  ParsedDocument doc;
  doc.format = std::move(format);
  doc.blocks = std::move(blocks);
  return doc;
}

// "Sentence 0 has five words." ... one block of `n` numbered sentences.
std::string Sentences(int n, int first = 0) {
  std::string text;
  for (int i = first; i < first + n; ++i) {
    text += "Sentence s" + std::to_string(i) + " has five words. ";
  }
  return text;
}

ChunkOptions WordBudget(int target, double overlap) {
  ChunkOptions options;
  options.target_tokens = target;
  options.overlap = overlap;
  options.count_tokens = CountWords;
  return options;
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

TEST(SplitSentencesTest, SplitsAtSentenceEndsInSeveralScriptsAndTrims) {
  EXPECT_EQ(SplitSentences("  Smith arrived at 3.30 p.m. today. He left!  Why?\n"),
            (std::vector<std::string_view>{"Smith arrived at 3.30 p.m. today.", "He left!", "Why?"}));
  EXPECT_EQ(SplitSentences("我们明天开会。他不来。"), (std::vector<std::string_view>{"我们明天开会。", "他不来。"}));
  EXPECT_TRUE(SplitSentences(" \n\t ").empty());
}

TEST(ChunkDocumentTest, EveryChunkStaysWithinTheBudgetOfTheCountingFunction) {
  auto chunks = ChunkDocument(Doc({{Sentences(100), 0, "", false}}), WordBudget(23, 0.2));
  ASSERT_GT(chunks.size(), 20u);
  for (const auto& c : chunks) {
    EXPECT_LE(CountWords(c.text), 23) << c.text;
    EXPECT_GE(CountWords(c.text), 15) << "chunks are filled up to the budget: " << c.text;
  }
}

TEST(ChunkDocumentTest, ChunksEndAtSentenceBoundaries) {
  auto chunks = ChunkDocument(Doc({{Sentences(40), 0, "", false}}), WordBudget(23, 0));
  for (const auto& c : chunks) {
    EXPECT_EQ(c.text.rfind("Sentence", 0), 0u) << c.text;
    EXPECT_EQ(c.text.back(), '.') << c.text;
  }
}

TEST(ChunkDocumentTest, NextChunkRepeatsTheLastSentencesOfThePreviousOne) {
  auto chunks = ChunkDocument(Doc({{Sentences(60), 0, "", false}}), WordBudget(30, 0.2));
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 1; i < chunks.size(); ++i) {
    const std::string& prev = chunks[i - 1].text;
    std::string last = prev.substr(prev.rfind("Sentence"));
    EXPECT_EQ(chunks[i].text.rfind(last, 0), 0u) << "chunk " << i << " should open with: " << last;
  }
  // Every sentence is in some chunk, none lost between overlaps.
  std::string all;
  for (const auto& c : chunks) all += c.text + " ";
  for (int i = 0; i < 60; ++i) EXPECT_GE(CountOf(all, "s" + std::to_string(i) + " "), 1u) << i;
}

TEST(ChunkDocumentTest, WithoutOverlapEverySentenceAppearsOnce) {
  auto chunks = ChunkDocument(Doc({{Sentences(60), 0, "", false}}), WordBudget(30, 0));
  std::string all;
  for (const auto& c : chunks) all += c.text + " ";
  for (int i = 0; i < 60; ++i) EXPECT_EQ(CountOf(all, " s" + std::to_string(i) + " "), 1u) << i;
}

TEST(ChunkDocumentTest, AnOverlongSentenceIsCutBetweenWordsNeverInsideOne) {
  std::string sentence;
  std::set<std::string> words;
  for (int i = 0; i < 500; ++i) {
    std::string w = "w" + std::to_string(1000 + i);
    words.insert(w);
    sentence += w + (i % 7 == 0 ? ", " : " ");
  }
  auto chunks = ChunkDocument(Doc({{sentence, 0, "", false}}), WordBudget(40, 0));
  ASSERT_GE(chunks.size(), 13u);
  size_t seen = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(CountWords(c.text), 40);
    std::istringstream in(c.text);
    for (std::string w; in >> w; ++seen) {
      if (w.back() == ',') w.pop_back();
      EXPECT_TRUE(words.count(w)) << "split word: " << w;
    }
  }
  EXPECT_EQ(seen, 500u);
}

TEST(ChunkDocumentTest, AWordLongerThanTheWholeBudgetIsCutIntoBudgetSizedPieces) {
  std::string blob(20000, 'A');  // a base64 blob without spaces
  ChunkOptions options;
  options.target_tokens = 100;
  options.overlap = 0;
  options.count_tokens = [](std::string_view s) { return static_cast<int>(s.size() / 3); };
  auto chunks = ChunkDocument(Doc({{"Before. " + blob + " after.", 0, "", false}}), options);
  size_t total = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(static_cast<int>(c.text.size() / 3), 100);
    total += CountOf(c.text, "A");
  }
  EXPECT_EQ(total, blob.size());
}

TEST(ChunkDocumentTest, ChunksNeverSpanTwoPagesSoEachCitesOnePage) {
  auto doc = Doc({{"Intro on page three ends", 3, "", false},
                  {"mid-sentence on page four. Then more.", 4, "", false},
                  {"Page five.", 5, "", false}});
  auto chunks = ChunkDocument(doc, WordBudget(100, 0));
  ASSERT_EQ(chunks.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(chunks[i].page_start, 3 + i);
    EXPECT_EQ(chunks[i].page_end, 3 + i);
  }
  EXPECT_EQ(chunks[1].text, "mid-sentence on page four. Then more.");
}

TEST(ChunkDocumentTest, DocumentsWithoutPagesGivePageZero) {
  auto chunks = ChunkDocument(Doc({{"No pages here.", 0, "", false}}), {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].page_start, 0);
  EXPECT_EQ(chunks[0].page_end, 0);
}

TEST(ChunkDocumentTest, ChunksNeverSpanTwoHeadings) {
  auto doc = Doc({{"Alpha one. Alpha two.", 2, "Alpha", false},
                  {"Alpha three.", 2, "Alpha", false},
                  {"Beta one. Beta two.", 2, "Beta", false}});
  auto chunks = ChunkDocument(doc, WordBudget(1000, 0.2));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].heading, "Alpha");
  EXPECT_EQ(chunks[0].text, "Alpha one. Alpha two.\n\nAlpha three.");
  EXPECT_EQ(chunks[1].heading, "Beta");
  EXPECT_EQ(chunks[1].text, "Beta one. Beta two.");
  EXPECT_EQ(chunks[1].page_start, 2);
}

TEST(ChunkDocumentTest, ChunkIsOcrWhenAnyOfItsBlocksIs) {
  auto doc = Doc({{"Text layer.", 1, "", false}, {"Recognised.", 1, "", true}});
  auto chunks = ChunkDocument(doc, {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_TRUE(chunks[0].ocr);
  EXPECT_FALSE(ChunkDocument(Doc({{"Text layer.", 1, "", false}}), {})[0].ocr);
}

TEST(ChunkDocumentTest, MailChunksAllStartWithTheHeaderLine) {
  auto doc = Doc({{Sentences(50), 0, "", false}}, "email");
  doc.metadata = {{"from", "Ann Example <ann@example.org>"},
                  {"date", "2024-03-01T10:00:00Z"},
                  {"subject", "Quarterly\r\n report"}};
  std::string header =
      "From: Ann Example <ann@example.org> | Date: 2024-03-01T10:00:00Z | Subject: Quarterly "
      "report";
  EXPECT_EQ(MailHeaderLine(doc), header);
  auto chunks = ChunkDocument(doc, WordBudget(40, 0.15));
  ASSERT_GT(chunks.size(), 5u);
  for (const auto& c : chunks) {
    EXPECT_EQ(c.text.rfind(header + "\n", 0), 0u) << c.text;
    EXPECT_LE(CountWords(c.text), 40) << "the header line counts against the budget";
  }
}

TEST(MailHeaderLineTest, IsEmptyForOtherFormatsAndSkipsMissingFields) {
  auto doc = Doc({});
  doc.metadata = {{"subject", "x"}};
  EXPECT_EQ(MailHeaderLine(doc), "");
  doc.format = "email";
  EXPECT_EQ(MailHeaderLine(doc), "Subject: x");
  doc.metadata.clear();
  doc.author = "bob@example.org";
  EXPECT_EQ(MailHeaderLine(doc), "From: bob@example.org");
}

TEST(MailHeaderLineTest, AHugeSubjectIsShortenedBetweenCharacters) {
  auto doc = Doc({}, "email");
  std::string subject;
  for (int i = 0; i < 500; ++i) subject += "\u00e9";
  doc.metadata = {{"subject", subject}};
  std::string line = MailHeaderLine(doc);
  EXPECT_LT(line.size(), 300u);
  EXPECT_EQ(NormalizeText(line), line) << "no half character at the end";
}

// Ten Chinese sentences of 21 characters each, ending with the ideographic full stop.
std::string ChineseText() {
  std::string text;
  for (int i = 0; i < 10; ++i) {
    text +=
        "\u4eca\u5929\u6211\u4eec\u8ba8\u8bba\u4e86\u6587\u6863\u7684\u5904\u7406\u65b9\u6cd5"
        "\u548c\u68c0\u7d22\u7684\u95ee\u9898\u3002";
  }
  return text;
}

TEST(ChunkDocumentTest, ChineseTextIsChunkedAtSentenceEndsWithinTheBudget) {
  ChunkOptions options;  // the estimate: one token per Han character
  options.target_tokens = 50;
  options.overlap = 0;
  auto chunks = ChunkDocument(Doc({{ChineseText(), 0, "", false}}), options);
  ASSERT_EQ(chunks.size(), 5u);
  std::string joined;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.text.size() / 3, 42u) << "two whole sentences per chunk: " << c.text;
    EXPECT_EQ(c.text.substr(c.text.size() - 3), "\u3002");
    joined += c.text;
  }
  EXPECT_EQ(joined, ChineseText());
}

TEST(ChunkDocumentTest, ThaiTextWithoutSpacesIsCutAtWordBoundaries) {
  // Dictionary words joined without spaces, as Thai is written.
  const std::vector<std::string> words = {
      "\u0e1b\u0e23\u0e30\u0e40\u0e17\u0e28", "\u0e44\u0e17\u0e22", "\u0e20\u0e32\u0e29\u0e32",
      "\u0e04\u0e19", "\u0e42\u0e23\u0e07\u0e40\u0e23\u0e35\u0e22\u0e19"};
  std::string text;
  std::set<size_t> boundaries = {0};
  for (int i = 0; i < 300; ++i) {
    text += words[i % words.size()];
    boundaries.insert(text.size());
  }
  ChunkOptions options;
  options.target_tokens = 40;
  options.overlap = 0;
  auto chunks = ChunkDocument(Doc({{text, 0, "", false}}), options);
  ASSERT_GT(chunks.size(), 10u);
  size_t offset = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(c.text.size() / 3, 40u);
    ASSERT_EQ(text.compare(offset, c.text.size(), c.text), 0);
    offset += c.text.size();
    EXPECT_TRUE(boundaries.count(offset)) << "cut inside a word at byte " << offset;
  }
  EXPECT_EQ(offset, text.size());
}

TEST(ChunkDocumentTest, DocumentWithoutTextGivesNoChunk) {
  EXPECT_TRUE(ChunkDocument(Doc({}), {}).empty());
  EXPECT_TRUE(ChunkDocument(Doc({{"  \n\n ", 1, "", false}, {"", 2, "", false}}), {}).empty());
}

TEST(ChunkDocumentTest, ChildrenAreNotChunkedWithTheirParent) {
  ParsedDocument mail = Doc({{"Body of the mail.", 0, "", false}}, "email");
  mail.children.push_back(Doc({{"Attachment text.", 0, "", false}}));
  auto chunks = ChunkDocument(mail, {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text.find("Attachment"), std::string::npos);
}

TEST(ChunkDocumentTest, DefaultEstimateKeepsLatinChunksNearFourBytesPerToken) {
  ChunkOptions options;
  options.target_tokens = 100;
  auto chunks = ChunkDocument(Doc({{Sentences(200), 0, "", false}}), options);
  ASSERT_GT(chunks.size(), 10u);
  chunks.pop_back();  // the last chunk takes what is left
  for (const auto& c : chunks) {
    EXPECT_LE(c.text.size(), 400u);
    EXPECT_GE(c.text.size(), 250u);
  }
}

TEST(ChunkDocumentTest, AMultiMegabyteDocumentIsChunkedCompletely) {
  std::string big;
  for (int i = 0; i < 100000; ++i) {
    big += "Paragraph " + std::to_string(i) + " talks about storage, retrieval and ranking.";
    big += i % 5 == 4 ? "\n\n" : " ";
  }
  ASSERT_GT(big.size(), 5u << 20);
  ChunkOptions options;
  options.overlap = 0;
  auto chunks = ChunkDocument(Doc({{big, 0, "", false}}), options);
  size_t bytes = 0;
  for (const auto& c : chunks) bytes += c.text.size();
  EXPECT_GT(chunks.size(), 4000u);
  EXPECT_GT(bytes, big.size() * 9 / 10);
  EXPECT_NE(chunks.back().text.find("Paragraph 99999 "), std::string::npos);
}

}  // namespace
}  // namespace cloister::ingest
