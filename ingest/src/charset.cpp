#include "charset.h"

#include <unicode/ucnv.h>
#include <unicode/ucsdet.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace cloister::ingest {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool IsAscii(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return (c & 0x80) == 0; });
}

// Converts with `charset`; `errors` counts substituted (undecodable) characters. False when ICU
// does not know the charset.
bool Convert(std::string_view bytes, const std::string& charset, std::string* out, int* errors) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<UConverter, decltype(&ucnv_close)> conv(ucnv_open(charset.c_str(), &status),
                                                         ucnv_close);
  if (U_FAILURE(status) || !conv) return false;
  // Count substitutions by converting to UTF-16 with a callback that records them.
  *errors = 0;
  struct Counter {
    static void Call(const void* ctx, UConverterToUnicodeArgs* args, const char*, int32_t,
                     UConverterCallbackReason reason, UErrorCode* err) {
      if (reason <= UCNV_IRREGULAR) ++*static_cast<int*>(const_cast<void*>(ctx));
      UCNV_TO_U_CALLBACK_SUBSTITUTE(nullptr, args, nullptr, 0, reason, err);
    }
  };
  ucnv_setToUCallBack(conv.get(), Counter::Call, errors, nullptr, nullptr, &status);
  std::u16string wide(bytes.size() * 2 + 16, u'\0');
  int32_t n = ucnv_toUChars(conv.get(), reinterpret_cast<UChar*>(wide.data()),
                            static_cast<int32_t>(wide.size()), bytes.data(),
                            static_cast<int32_t>(bytes.size()), &status);
  if (U_FAILURE(status)) return false;
  wide.resize(static_cast<size_t>(n));
  out->clear();
  out->reserve(wide.size() * 3 / 2);
  for (size_t i = 0; i < wide.size();) {
    UChar32 c;
    U16_NEXT(wide.data(), i, wide.size(), c);
    char buf[4];
    int32_t len = 0;
    UBool err = false;
    U8_APPEND(buf, len, 4, c, err);
    if (err) {
      out->append("\xEF\xBF\xBD");
    } else {
      out->append(buf, static_cast<size_t>(len));
    }
  }
  return true;
}

std::string DetectCharset(std::string_view bytes) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<UCharsetDetector, decltype(&ucsdet_close)> det(ucsdet_open(&status), ucsdet_close);
  if (U_FAILURE(status)) return "ISO-8859-1";
  int32_t len = static_cast<int32_t>(std::min<size_t>(bytes.size(), 1 << 20));
  ucsdet_setText(det.get(), bytes.data(), len, &status);
  const UCharsetMatch* match = ucsdet_detect(det.get(), &status);
  if (U_FAILURE(status) || !match) return "ISO-8859-1";
  const char* name = ucsdet_getName(match, &status);
  return U_FAILURE(status) || !name ? "ISO-8859-1" : name;
}

std::string FromBom(std::string_view bytes, size_t* skip) {
  auto starts = [&](std::string_view p) { return bytes.substr(0, p.size()) == p; };
  if (starts("\xEF\xBB\xBF")) { *skip = 3; return "UTF-8"; }
  if (starts(std::string_view("\xFF\xFE\x00\x00", 4))) { *skip = 4; return "UTF-32LE"; }
  if (starts(std::string_view("\x00\x00\xFE\xFF", 4))) { *skip = 4; return "UTF-32BE"; }
  if (starts("\xFF\xFE")) { *skip = 2; return "UTF-16LE"; }
  if (starts("\xFE\xFF")) { *skip = 2; return "UTF-16BE"; }
  return "";
}

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  int32_t i = 0, n = static_cast<int32_t>(bytes.size());
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  while (i < n) {
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) return false;
  }
  return true;
}

Decoded DecodeToUtf8(std::string_view bytes, std::string_view declared) {
  Decoded d;
  size_t skip = 0;
  std::string bom = FromBom(bytes, &skip);
  if (!bom.empty()) {
    int errors = 0;
    Convert(bytes.substr(skip), bom, &d.text, &errors);
    d.charset = bom;
    return d;
  }
  std::string want = Lower(declared);
  bool ascii_claim = want.empty() || want == "us-ascii" || want == "ascii";
  if (ascii_claim && IsValidUtf8(bytes)) {
    d.text = std::string(bytes);
    d.charset = IsAscii(bytes) ? "US-ASCII" : "UTF-8";
    d.detected = !want.empty() && !IsAscii(bytes);
    return d;
  }
  // Non-ASCII bytes that form valid UTF-8 are UTF-8 whatever an 8-bit label claims: the odds of
  // Latin-1 or Windows-125x text being valid multi-byte UTF-8 by chance are negligible.
  if (!IsAscii(bytes) && IsValidUtf8(bytes)) {
    d.text = std::string(bytes);
    d.charset = "UTF-8";
    d.detected = want != "utf-8" && want != "utf8";
    return d;
  }
  int errors = 0;
  if (!ascii_claim && Convert(bytes, std::string(declared), &d.text, &errors) && errors == 0) {
    // A declared UTF-8 that decodes cleanly, or any other charset that maps every byte.
    d.charset = std::string(declared);
    return d;
  }
  d.charset = DetectCharset(bytes);
  d.detected = true;
  if (!Convert(bytes, d.charset, &d.text, &errors)) {
    Convert(bytes, "ISO-8859-1", &d.text, &errors);
    d.charset = "ISO-8859-1";
  }
  return d;
}

}  // namespace cloister::ingest
