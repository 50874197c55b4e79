// Must not compile: web sees app's facade and core, never the leaves behind app.
#include "cloister/storage/catalog.h"
