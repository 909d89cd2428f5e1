// AppServices: builds the app's services (store, inference thread, controllers) and hands
// them to QML as context properties: chat, models, kv, summary, settings, app.
// Used by main() and by the GUI tests. GUI thread only.
#pragma once

#include <QObject>
#include <QString>
#include <memory>

#include "core/app-settings.h"
#include "core/chat-controller.h"
#include "core/conversation-store.h"
#include "core/inference-worker.h"
#include "core/kv-controller.h"
#include "core/model-controller.h"
#include "core/summary-controller.h"

class QQmlContext;

class AppServices : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString startupError READ startupError CONSTANT)
public:
    // Opens (or creates) the chat database at databasePath and marks interrupted answers.
    // A database that cannot be opened leaves the app usable and explains why in startupError.
    AppServices(const QString& databasePath, QObject* parent = nullptr);
    ~AppServices() override;

    void expose(QQmlContext* context);
    QString startupError() const { return m_startupError; }
    static QString defaultDatabasePath();

private:
    QString m_startupError;  // first: written while the members below are built

public:
    ConversationStore store;
    InferenceThread inference;
    KvController kv;
    AppSettings settings;
    ChatController chat;
    ModelController models;
    SummaryController summary;
};
