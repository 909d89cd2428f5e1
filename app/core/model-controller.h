// ModelController: which model is loaded — the default model preselected, opening a GGUF
// file or a safetensors folder, load progress and clear errors, and the model's info.
// Loading runs on the inference thread; the window stays responsive.
// GUI thread only.
#pragma once

#include <QObject>
#include <QVariantMap>

#include "core/inference-types.h"

class InferenceThread;
class KvController;

class ModelController : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString modelPath READ modelPath NOTIFY stateChanged)
    Q_PROPERTY(QString defaultModelPath READ defaultModelPath CONSTANT)
    Q_PROPERTY(bool defaultModelExists READ defaultModelExists CONSTANT)
    Q_PROPERTY(bool loaded READ loaded NOTIFY stateChanged)
    Q_PROPERTY(bool loading READ loading NOTIFY stateChanged)
    Q_PROPERTY(QString error READ error NOTIFY stateChanged)
    Q_PROPERTY(QString progressText READ progressText NOTIFY progressChanged)
    Q_PROPERTY(double progress READ progress NOTIFY progressChanged)
    Q_PROPERTY(QVariantMap info READ info NOTIFY stateChanged)
    Q_PROPERTY(QString displayName READ displayName NOTIFY stateChanged)
    Q_PROPERTY(QString device READ device CONSTANT)
    Q_PROPERTY(QString deviceNote READ deviceNote NOTIFY stateChanged)
    Q_PROPERTY(QStringList recentModels READ recentModels NOTIFY stateChanged)
    // The models in the user's models folder: [{name, path, description, isDefault}], the
    // default first.
    Q_PROPERTY(QVariantList installedModels READ installedModels NOTIFY installedModelsChanged)
public:
    ModelController(InferenceThread* inference, KvController* kv, QObject* parent = nullptr);

    QString modelPath() const { return m_path; }
    QString defaultModelPath() const;
    bool defaultModelExists() const;
    bool loaded() const { return m_loaded; }
    bool loading() const { return m_loading; }
    QString error() const { return m_error; }
    QString progressText() const { return m_progressText; }
    double progress() const { return m_progress; }
    QVariantMap info() const;
    const ModelInfo& modelInfo() const { return m_info; }
    QString displayName() const;
    QString device() const { return tr("CPU"); }
    QString deviceNote() const;
    QStringList recentModels() const;
    QVariantList installedModels() const { return m_installed; }

    // A path or file:// URL of a .gguf file, a model folder, or a .safetensors file in one.
    Q_INVOKABLE void load(const QString& pathOrUrl);
    Q_INVOKABLE void loadDefault();  // no-op with an error when the default is missing
    Q_INVOKABLE void loadLastOrDefault();
    // Re-reads the models folder (a model may have been installed while the app runs).
    Q_INVOKABLE void refreshInstalledModels();

signals:
    void stateChanged();
    void progressChanged();
    void modelReady(const ModelInfo& info);
    void installedModelsChanged();

private:
    InferenceThread* m_inference;
    KvController* m_kv;
    QString m_path;
    bool m_loaded = false;
    bool m_loading = false;
    QString m_error;
    QString m_progressText;
    double m_progress = 0;
    ModelInfo m_info;
    QVariantList m_installed;
};
