// The engine's public surface in one include, for the app and tools:
//   Model (immutable, shared) -> Session (one per chat: tokens, KV cache, save/restore)
//   -> generate() (sampling, streaming, stop strings, context policies),
//   KvProfile / parse_kv_spec (the KVmix cache). Text lives in the separate tokenizer
//   target: tokenizer/tokenizer-loader.h and tokenizer/chat-prompt.h.
// Threading: a Model is shared freely; a Session and its generate() calls belong to one
// thread at a time; the stop flag passed to generate() may be set from any thread.
#pragma once

#include "kvmix/status.h"
#include "model/model-paths.h"
#include "model/model.h"
#include "runtime/generation.h"
#include "runtime/kv-profile.h"
#include "runtime/session.h"
