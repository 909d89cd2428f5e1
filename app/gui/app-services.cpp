#include "app-services.h"

#include <QDir>
#include <QQmlContext>

#include "model/model-paths.h"

namespace {

// Opens the store before the controllers read from it (members initialise in order).
ConversationStore& openedStore(ConversationStore& store, const QString& path, QString* error) {
    if (!store.open(path)) {
        *error = QObject::tr("The chat history at %1 cannot be used: %2. Chats will not be saved.").arg(path, store.lastError());
    } else if (store.recoverInterrupted() < 0) {
        *error = QObject::tr("Could not mark interrupted answers: %1").arg(store.lastError());
    }
    return store;
}

}  // namespace

AppServices::AppServices(const QString& databasePath, QObject* parent)
    : QObject(parent),
      kv(&inference),
      settings(databasePath, QStringLiteral(KVMIX_VERSION)),
      chat(&openedStore(store, databasePath, &m_startupError), &inference),
      models(&inference, &kv),
      summary(&inference, &chat, &kv) {
    chat.setKvChoiceProvider([this] { return kv.currentChoice(); });
    chat.setModelPathProvider([this] { return models.modelPath(); });
    connect(inference.worker(), &InferenceWorker::memoryChanged, &kv, [this](const KvMemoryInfo& info) {
        if (info.conversationId == chat.currentConversationId()) kv.onMemoryChanged(info);
    });
    // A chat switch shows that chat's cache (when the worker still holds its session).
    connect(&chat, &ChatController::currentConversationChanged, &kv, [this] {
        kv.resetHistory();
        const qint64 id = chat.currentConversationId();
        inference.post([id](InferenceWorker* w) { w->reportMemory(id); });
    });
    connect(&chat, &ChatController::busyChanged, &kv, [this] {
        if (chat.busy()) kv.dismissApplyNote();
    });
    connect(&chat, &ChatController::samplingChanged, &kv, [this] { kv.setContextLength(chat.samplingSettings().contextLength); });
    kv.setContextLength(chat.samplingSettings().contextLength);
}

AppServices::~AppServices() { inference.worker()->stopAll(); }

QString AppServices::defaultDatabasePath() {
    return QDir(QString::fromStdString(kvmix::user_data_dir())).filePath(QStringLiteral("chats.sqlite"));
}

void AppServices::expose(QQmlContext* context) {
    context->setContextProperty(QStringLiteral("app"), this);
    context->setContextProperty(QStringLiteral("chat"), &chat);
    context->setContextProperty(QStringLiteral("models"), &models);
    context->setContextProperty(QStringLiteral("kv"), &kv);
    context->setContextProperty(QStringLiteral("summary"), &summary);
    context->setContextProperty(QStringLiteral("settings"), &settings);
}
