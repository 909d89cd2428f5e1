// Built without the importance profiler: no stored profiles, profiling unavailable.
#include <QObject>

#include "core/profiler-hook.h"

bool profilerAvailable() { return false; }

StoredProfileInfo findStoredProfile(const kvmix::ModelFile&, QString*) { return {}; }

bool runProfiling(const std::shared_ptr<const kvmix::Model>&, const kvmix::Tokenizer&, const ProfilingRequest&,
                  const std::function<void(const QString&, double)>&, const std::atomic<bool>*, bool* cancelled,
                  QString* error) {
    *cancelled = false;
    *error = QObject::tr("This build has no importance profiler.");
    return false;
}
