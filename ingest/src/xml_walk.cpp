#include "xml_walk.h"

#include <libxml/xmlreader.h>

#include <limits>
#include <memory>

#include "libxml_init.h"

namespace cloister::ingest {
namespace {

struct FirstError {
  std::string message;
  int line = 0;
};

void RecordError(void* arg, const char* msg, xmlParserSeverities severity,
                 xmlTextReaderLocatorPtr locator) {
  auto* first = static_cast<FirstError*>(arg);
  bool error =
      severity == XML_PARSER_SEVERITY_ERROR || severity == XML_PARSER_SEVERITY_VALIDITY_ERROR;
  if (!error || !first->message.empty() || msg == nullptr) return;
  first->message = msg;
  while (!first->message.empty() && first->message.back() == '\n') first->message.pop_back();
  first->line = xmlTextReaderLocatorLineNumber(locator);
}

std::string_view View(const xmlChar* s) {
  return s == nullptr ? std::string_view() : reinterpret_cast<const char*>(s);
}

// One reader step: hands the current node to `handler`; true when its subtree is to be skipped.
bool Visit(xmlTextReaderPtr reader, XmlHandler* handler) {
  switch (xmlTextReaderNodeType(reader)) {
    case XML_READER_TYPE_ELEMENT: {
      std::string_view name = View(xmlTextReaderConstLocalName(reader));
      bool empty = xmlTextReaderIsEmptyElement(reader) == 1;
      if (!handler->Start(name, XmlElement(reader))) return true;
      if (empty) handler->End(name);
      return false;
    }
    case XML_READER_TYPE_END_ELEMENT:
      handler->End(View(xmlTextReaderConstLocalName(reader)));
      return false;
    case XML_READER_TYPE_TEXT:
    case XML_READER_TYPE_CDATA:
    case XML_READER_TYPE_WHITESPACE:
    case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
      handler->Text(View(xmlTextReaderConstValue(reader)));
      return false;
    default:
      return false;  // entity references stay unexpanded; comments and PIs carry no text
  }
}

}  // namespace

std::string XmlElement::Attr(std::string_view local_name) const {
  auto reader = static_cast<xmlTextReaderPtr>(reader_);
  std::string value;
  for (int r = xmlTextReaderMoveToFirstAttribute(reader); r == 1;
       r = xmlTextReaderMoveToNextAttribute(reader)) {
    if (View(xmlTextReaderConstLocalName(reader)) == local_name) {
      value = View(xmlTextReaderConstValue(reader));
      break;
    }
  }
  xmlTextReaderMoveToElement(reader);
  return value;
}

Status WalkXml(std::string_view xml, const std::string& part, XmlHandler* handler) {
  if (xml.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return FailedPrecondition(part + " is over 2 GiB");
  }
  InitLibxml();
  std::unique_ptr<xmlTextReader, decltype(&xmlFreeTextReader)> reader(
      xmlReaderForMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                         XML_PARSE_NONET),
      xmlFreeTextReader);
  if (!reader) return Internal("libxml2 could not create a reader for " + part);
  FirstError first;
  xmlTextReaderSetErrorHandler(reader.get(), RecordError, &first);
  int r = xmlTextReaderRead(reader.get());
  while (r == 1 && !handler->Done()) {
    bool skip = Visit(reader.get(), handler);
    r = skip ? xmlTextReaderNext(reader.get()) : xmlTextReaderRead(reader.get());
  }
  if (r < 0) {
    return InvalidArgument(part + " is not well-formed XML" +
                           (first.line > 0 ? " at line " + std::to_string(first.line) : "") +
                           (first.message.empty() ? "" : ": " + first.message));
  }
  return Status::Ok();
}

}  // namespace cloister::ingest
