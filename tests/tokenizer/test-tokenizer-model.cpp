#include "check.h"
KVMIX_TEST_MAIN()
