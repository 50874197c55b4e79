// Must not compile: storage is a leaf and may not see index (DESIGN.md).
#include "cloister/index/fusion.h"
