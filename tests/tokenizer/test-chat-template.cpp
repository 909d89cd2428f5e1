#include "tokenizer/chat-template.h"
#include "check.h"
TEST_CASE("placeholder") { CHECK(true); }
KVMIX_TEST_MAIN()
