// libxml2 set-up shared by the HTML and office parsers. Private to ingest.
#pragma once

#include <libxml/parser.h>

namespace cloister::ingest {

// libxml2 must be initialised once before threads use it; later calls are free.
inline void InitLibxml() {
  static const bool initialised = [] {
    xmlInitParser();
    return true;
  }();
  (void)initialised;
}

}  // namespace cloister::ingest
