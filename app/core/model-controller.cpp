#include "core/model-controller.h"

#include <QFileInfo>
#include <QSettings>
#include <QUrl>

#include "core/inference-worker.h"
#include "core/kv-controller.h"
#include "model/model-paths.h"

ModelController::ModelController(InferenceThread* inference, KvController* kv, QObject* parent)
    : QObject(parent), m_inference(inference), m_kv(kv) {
    refreshInstalledModels();
    InferenceWorker* w = m_inference->worker();
    connect(w, &InferenceWorker::progress, this, [this](int requestId, const QString& phase, double fraction) {
        if (requestId != 0 || !m_loading) return;
        m_progressText = phase;
        m_progress = fraction;
        emit progressChanged();
    });
    connect(w, &InferenceWorker::modelLoaded, this, [this](const ModelInfo& info) {
        if (info.path != m_path) return;  // a newer load is on its way
        m_info = info;
        m_loading = false;
        m_loaded = true;
        m_error.clear();
        QSettings settings;
        settings.setValue(QStringLiteral("model/last"), info.path);
        QStringList recent = settings.value(QStringLiteral("model/recent")).toStringList();
        recent.removeAll(info.path);
        recent.prepend(info.path);
        settings.setValue(QStringLiteral("model/recent"), recent.mid(0, 8));
        if (m_kv) m_kv->setModel(info);
        emit stateChanged();
        emit modelReady(info);
    });
    connect(w, &InferenceWorker::modelLoadFailed, this, [this](const QString& path, const QString& message) {
        if (path != m_path) return;
        m_loading = false;
        m_loaded = false;
        m_info = ModelInfo{};
        m_error = tr("Could not load %1: %2").arg(QFileInfo(path).fileName(), message);
        if (m_kv) m_kv->clearModel();
        emit stateChanged();
    });
}

QString ModelController::defaultModelPath() const { return QString::fromStdString(kvmix::default_model_path()); }

bool ModelController::defaultModelExists() const { return QFileInfo::exists(defaultModelPath()); }

void ModelController::refreshInstalledModels() {
    QVariantList list;
    for (const kvmix::InstalledModel& m : kvmix::installed_models())
        list.push_back(QVariantMap{{QStringLiteral("name"), QString::fromStdString(m.name)},
                                   {QStringLiteral("path"), QString::fromStdString(m.path)},
                                   {QStringLiteral("description"), QString::fromStdString(m.description)},
                                   {QStringLiteral("isDefault"), m.is_default}});
    if (list == m_installed) return;
    m_installed = std::move(list);
    emit installedModelsChanged();
}

QString ModelController::deviceNote() const {
    return m_info.deviceNote.isEmpty() ? tr("Runs on the CPU.") : m_info.deviceNote;
}

QStringList ModelController::recentModels() const { return QSettings().value(QStringLiteral("model/recent")).toStringList(); }

QString ModelController::displayName() const {
    if (m_loading) return tr("Loading %1…").arg(QFileInfo(m_path).fileName());
    if (!m_loaded) return tr("No model");
    // An installed model goes by its short name; general.name is often a training-run label.
    for (const QVariant& v : m_installed) {
        const QVariantMap m = v.toMap();
        if (m.value(QStringLiteral("path")).toString() == m_path) return m.value(QStringLiteral("name")).toString();
    }
    const QString file = QFileInfo(m_path).fileName();
    for (const kvmix::KnownModel& k : kvmix::known_models())
        if (file == QLatin1String(k.file)) return QString::fromLatin1(k.name);
    return m_info.name.isEmpty() ? QFileInfo(m_path).fileName() : m_info.name;
}

QVariantMap ModelController::info() const {
    if (!m_loaded) return {};
    return {{QStringLiteral("path"), m_info.path},
            {QStringLiteral("name"), m_info.name},
            {QStringLiteral("architecture"), m_info.architecture},
            {QStringLiteral("format"), m_info.format},
            {QStringLiteral("fileBytes"), static_cast<double>(m_info.fileBytes)},
            {QStringLiteral("weightBytes"), static_cast<double>(m_info.weightBytes)},
            {QStringLiteral("layers"), m_info.nLayer},
            {QStringLiteral("embedding"), m_info.nEmbd},
            {QStringLiteral("heads"), m_info.nHead},
            {QStringLiteral("kvHeads"), m_info.layers.isEmpty() ? 0 : static_cast<int>(m_info.layers.first().nHeadKv)},
            {QStringLiteral("vocabulary"), m_info.nVocab},
            {QStringLiteral("context"), m_info.contextLength},
            {QStringLiteral("chatTemplate"), m_info.hasChatTemplate},
            {QStringLiteral("tokenizer"), m_info.tokenizerKind}};
}

void ModelController::load(const QString& pathOrUrl) {
    const QUrl url(pathOrUrl);
    const QString path = url.isLocalFile() ? url.toLocalFile() : pathOrUrl;
    if (path.isEmpty()) return;
    m_path = path;
    m_loading = true;
    m_loaded = false;
    m_error.clear();
    m_progressText = tr("Opening %1").arg(QFileInfo(path).fileName());
    m_progress = 0;
    emit stateChanged();
    emit progressChanged();
    m_inference->worker()->stopAll();
    m_inference->post([path](InferenceWorker* w) { w->loadModel(path); });
}

void ModelController::loadDefault() {
    if (!defaultModelExists()) {
        m_error = tr("The default model is not installed (%1). Run installer/setup.sh or open a model file.").arg(defaultModelPath());
        emit stateChanged();
        return;
    }
    load(defaultModelPath());
}

void ModelController::loadLastOrDefault() {
    const QString last = QSettings().value(QStringLiteral("model/last")).toString();
    if (!last.isEmpty() && QFileInfo::exists(last))
        load(last);
    else
        loadDefault();
}
