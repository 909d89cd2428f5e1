// The app's one entry point into the importance profiler (inference/profile): finding a
// model's stored profile with its per-preset bit allocations, and running the analysis.
// Builds without the profiler use profiler-hook-none.cpp: no profiles, profiling
// unavailable. Called on the inference worker's thread only.
#pragma once

#include <QMap>
#include <QString>
#include <QVector>
#include <atomic>
#include <functional>
#include <memory>

#include "core/inference-types.h"

namespace kvmix {
class Model;
class ModelFile;
class Tokenizer;
}  // namespace kvmix


bool profilerAvailable();
// The stored profile of the model, or an empty path (with *error set when a profile exists
// but cannot be used).
StoredProfileInfo findStoredProfile(const kvmix::ModelFile& file, QString* error);
// Runs the importance analysis and stores the profile where findStoredProfile looks.
// progress(stage, fraction). Returns false with *error (or *cancelled) on failure.
bool runProfiling(const std::shared_ptr<const kvmix::Model>& model, const kvmix::Tokenizer& tokenizer,
                  const ProfilingRequest& options, const std::function<void(const QString&, double)>& progress,
                  const std::atomic<bool>* cancel, bool* cancelled, QString* error);
