// Must not compile: core is the bottom of the graph.
#include "cloister/app/config.h"
