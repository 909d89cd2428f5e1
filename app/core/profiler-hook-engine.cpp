// The importance profiler behind profiler-hook.h (inference/profile).
#include <QFileInfo>
#include <QObject>
#include <algorithm>
#include <filesystem>

#include "core/profiler-hook.h"
#include "model/model.h"
#include "profile/importance-profile.h"
#include "profile/importance.h"
#include "tokenizer/tokenizer.h"

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// Openings for self-generated calibration text (the model writes on from them).
const char* const kOpenings[] = {"The", "In this article", "Once upon a time", "Question:"};

}  // namespace

bool profilerAvailable() { return true; }

StoredProfileInfo findStoredProfile(const kvmix::ModelFile& file, QString* error) {
    StoredProfileInfo info;
    const std::string path = kvmix::stored_profile_path(kvmix::model_identity(file));
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return info;
    auto profile = kvmix::load_importance_profile(path);
    if (!profile) {
        *error = qs(profile.status().message());
        return info;
    }
    for (const char* preset : {"high", "balanced", "compact"}) {
        auto kp = kvmix::preset_kv_profile(preset, file, path);
        if (!kp) {
            *error = qs(kp.status().message());
            return StoredProfileInfo{};
        }
        QVector<int> bits;
        for (const auto& l : kp->layers) bits << l.k_bits << l.v_bits;
        info.presets.insert(QString::fromLatin1(preset), bits);
    }
    info.path = qs(path);
    for (double s : profile->k_scores) info.kScores << s;
    for (double s : profile->v_scores) info.vScores << s;
    QStringList sources;
    for (const auto& s : profile->calibration.sources) sources << qs(s);
    info.calibrationSources = sources;
    for (const auto& f : profile->calibration.files) info.calibrationFiles << qs(f);
    QString described = sources.join(QStringLiteral(" + "));
    if (!info.calibrationFiles.isEmpty()) described += QStringLiteral(": ") + info.calibrationFiles.join(QStringLiteral(", "));
    info.calibration = QObject::tr("%1 sequences, %2 tokens (%3)")
                           .arg(profile->calibration.n_sequences)
                           .arg(profile->calibration.n_tokens)
                           .arg(described);
    return info;
}

bool runProfiling(const std::shared_ptr<const kvmix::Model>& model, const kvmix::Tokenizer& tok, const ProfilingRequest& options,
                  const std::function<void(const QString&, double)>& progress, const std::atomic<bool>* cancel,
                  bool* cancelled, QString* error) {
    *cancelled = false;
    kvmix::CalibrationConfig cc;
    cc.max_len = options.sequenceLength;
    cc.seed = options.seed;
    const auto window = static_cast<size_t>(std::max<int64_t>(2, cc.max_len - (tok.bos() >= 0 ? 1 : 0)));
    for (const QString& text : options.texts) {
        auto ids = tok.encode(text.toStdString(), false, false);
        if (!ids) {
            *error = qs(ids.status().message());
            return false;
        }
        for (size_t b = 0; b < ids->size(); b += window) {
            std::vector<int32_t> seq;
            if (tok.bos() >= 0) seq.push_back(tok.bos());
            seq.insert(seq.end(), ids->begin() + static_cast<long>(b), ids->begin() + static_cast<long>(std::min(ids->size(), b + window)));
            cc.sequences.push_back(std::move(seq));
        }
    }
    if (!options.texts.isEmpty()) {
        cc.sources.push_back(options.textSource.toStdString());
        for (const QString& name : options.fileNames) cc.files.push_back(name.toStdString());
    }
    cc.n_generate = std::max(0, options.sequences);  // the engine adds "self-generated" itself
    cc.generate_len = options.sequenceLength;
    for (const char* opening : kOpenings) {
        std::vector<int32_t> ids;
        if (tok.bos() >= 0) ids.push_back(tok.bos());
        auto enc = tok.encode(opening, false, false);
        if (enc) ids.insert(ids.end(), enc->begin(), enc->end());
        if (!ids.empty() && static_cast<int64_t>(ids.size()) < cc.max_len) cc.start_prompts.push_back(std::move(ids));
    }
    cc.banned_tokens = tok.eog_ids();
    if (tok.eos() >= 0) cc.banned_tokens.push_back(tok.eos());

    auto onProgress = [&](const kvmix::CalibrationProgress& p) {
        const bool generating = std::string_view(p.stage) == "generate";
        const double part = p.total > 0 ? static_cast<double>(p.done) / static_cast<double>(p.total) : 0.0;
        // Generation is the first half of the bar when it runs, the analysis the rest.
        const double fraction = cc.n_generate > 0 ? (generating ? 0.5 * part : 0.5 + 0.5 * part) : part;
        progress(generating ? QObject::tr("Writing calibration text %1/%2").arg(p.done).arg(p.total)
                            : QObject::tr("Measuring layer importance %1/%2").arg(p.done).arg(p.total),
                 fraction);
    };
    auto profile = kvmix::analyze_importance(model, cc, onProgress, cancel);
    if (!profile) {
        *cancelled = profile.status().code() == kvmix::ErrorCode::cancelled;
        *error = qs(profile.status().message());
        return false;
    }
    if (kvmix::Status st = kvmix::save_importance_profile(*profile, kvmix::stored_profile_path(profile->model)); !st.ok()) {
        *error = qs(st.message());
        return false;
    }
    return true;
}
