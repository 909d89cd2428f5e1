// chat-crash-driver <db> <model> <seed>: the app's chat path without a window — AppServices
// opens the store (recovering interrupted answers, as at start-up), loads the model and
// chats forever through ChatController and the inference worker, checkpointing every
// streamed piece. After each commit it reads the message back from the store and prints
//   committed <message id> <length in UTF-16 units> <SHA-1 hex of that text>
// (flushed), so test-chat-crash, which SIGKILLs it, knows what must have survived.
// Prints "recovered <n>" (answers the start-up marked interrupted) and "ready" first.
#include <QCoreApplication>
#include <QCryptographicHash>
#include <QHash>
#include <QRandomGenerator>

#include <cstdio>

#include "gui/app-services.h"

namespace {

struct Reporter {
    ConversationStore* store;
    QHash<qint64, qsizetype> reported;  // message id → longest length printed

    // Prints the stored text of the conversation's messages that grew since the last report.
    void report(qint64 conversationId) {
        for (const auto& m : store->messages(conversationId)) {
            if (reported.value(m.id, -1) >= m.content.size()) continue;
            reported[m.id] = m.content.size();
            const QByteArray hash = QCryptographicHash::hash(m.content.toUtf8(), QCryptographicHash::Sha1).toHex();
            std::printf("committed %lld %lld %s\n", static_cast<long long>(m.id), static_cast<long long>(m.content.size()),
                        hash.constData());
        }
        std::fflush(stdout);
    }
};

int countInterrupted(ConversationStore& store) {
    int n = 0;
    for (const auto& c : store.listConversations())
        for (const auto& m : store.messages(c.id)) n += m.state == ConversationStore::State::Interrupted;
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    if (argc != 4) {
        std::fprintf(stderr, "usage: chat-crash-driver <db> <model> <seed>\n");
        return 2;
    }
    QRandomGenerator rng(QString::fromLocal8Bit(argv[3]).toUInt());
    AppServices services(QString::fromLocal8Bit(argv[1]));
    if (!services.startupError().isEmpty()) {
        std::fprintf(stderr, "%s\n", qPrintable(services.startupError()));
        return 1;
    }
    std::printf("recovered %d\n", countInterrupted(services.store));
    std::fflush(stdout);

    ChatController& chat = services.chat;
    chat.setCheckpointIntervalMs(0);  // every streamed piece is a commit the test can lose
    chat.setSampling({{QStringLiteral("maxTokens"), 24 + static_cast<int>(rng.bounded(40u))},
                      {QStringLiteral("contextLength"), 512}});
    Reporter reporter{&services.store, {}};
    int turns = 0;
    const auto sendNext = [&] {
        if (turns % 3 == 0) chat.newConversation();
        const QString text = QStringLiteral("Turn %1 of run %2: tell me about the number %3.")
                                 .arg(turns)
                                 .arg(QString::fromLocal8Bit(argv[3]))
                                 .arg(rng.bounded(1000u));
        ++turns;
        if (!chat.send(text)) {
            std::fprintf(stderr, "send refused: %s\n", qPrintable(chat.lastError()));
            QCoreApplication::exit(1);
            return;
        }
        reporter.report(chat.currentConversationId());
    };
    // Queued after ChatController's own slot (connected first), so the checkpoint is in.
    QObject::connect(services.inference.worker(), &InferenceWorker::tokensGenerated, &chat,
                     [&](int, qint64 conversationId, const QString&) { reporter.report(conversationId); });
    QObject::connect(&chat, &ChatController::generationFinished, &chat, [&](const GenerationOutcome& o) {
        if (o.failed()) {
            std::fprintf(stderr, "answer failed: %s\n", qPrintable(o.error));
            QCoreApplication::exit(1);
            return;
        }
        reporter.report(chat.currentConversationId());
        sendNext();
    });
    QObject::connect(&services.models, &ModelController::modelReady, &chat, [&] {
        std::printf("ready\n");
        std::fflush(stdout);
        sendNext();
    });
    QObject::connect(&services.models, &ModelController::stateChanged, &chat, [&] {
        if (services.models.loading() || services.models.error().isEmpty()) return;
        std::fprintf(stderr, "model load failed: %s\n", qPrintable(services.models.error()));
        QCoreApplication::exit(1);
    });
    services.models.load(QString::fromLocal8Bit(argv[2]));
    return QCoreApplication::exec();
}
