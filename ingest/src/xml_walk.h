// Streaming walk over an XML part of an office document (libxml2's xmlTextReader). Private to
// ingest.
//
// Streaming keeps memory flat however large the part is. The reader never loads a DTD, never
// touches the network and never substitutes entities (entity references are ignored), so
// "billion laughs" documents expand nothing; libxml2's default limits on depth and text node
// size stay on.
#pragma once

#include <string>
#include <string_view>

#include "cloister/core/status.h"

namespace cloister::ingest {

// The element the reader stands on, for reading its attributes.
class XmlElement {
 public:
  explicit XmlElement(void* reader) : reader_(reader) {}
  // The value of the attribute whose local name is `local_name` (any namespace), or "".
  std::string Attr(std::string_view local_name) const;

 private:
  void* reader_;  // xmlTextReaderPtr, kept opaque so this header needs no libxml2 include
};

class XmlHandler {
 public:
  virtual ~XmlHandler() = default;
  // An element opens (`name` is its local name). Returning false skips its whole subtree, End
  // included. Empty elements get End right after Start.
  virtual bool Start(std::string_view name, const XmlElement& element) = 0;
  virtual void End(std::string_view name) = 0;
  // Character data, whitespace included.
  virtual void Text(std::string_view text) = 0;
  // True to stop reading early (a text limit was reached).
  virtual bool Done() const { return false; }
};

// Walks `xml`, the part named `part` (for messages). kInvalidArgument when the XML is not
// well-formed, naming the part and line; what was handled before the error stays handled.
Status WalkXml(std::string_view xml, const std::string& part, XmlHandler* handler);

}  // namespace cloister::ingest
