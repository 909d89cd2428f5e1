// store-crash-writer <db> <seed>: opens the store like the app does (recovering interrupted
// replies first) and writes a chat forever: a user message, then a streaming reply with
// checkpoints, then its final text. After each commit it prints "committed <id> <length>"
// (flushed) so a test that SIGKILLs it knows what must have survived. Stops by itself
// after 2 minutes in case nobody kills it.
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QRandomGenerator>

#include <cstdio>

#include "core/conversation-store.h"
#include "crash-text.h"

namespace {

void report(const char* what, qint64 id, int length) {
    std::printf("%s %lld %d\n", what, static_cast<long long>(id), length);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    if (argc != 3) {
        std::fprintf(stderr, "usage: store-crash-writer <db> <seed>\n");
        return 2;
    }
    const quint32 seed = QString::fromLocal8Bit(argv[2]).toUInt();
    QRandomGenerator rng(seed);
    ConversationStore store;
    if (!store.open(QString::fromLocal8Bit(argv[1]))) {
        std::fprintf(stderr, "%s\n", qPrintable(store.lastError()));
        return 1;
    }
    std::printf("recovered %d\n", store.recoverInterrupted());
    std::fflush(stdout);
    const qint64 conv = store.createConversation(QStringLiteral("crash run %1").arg(seed));
    if (conv == 0) {
        std::fprintf(stderr, "%s\n", qPrintable(store.lastError()));
        return 1;
    }
    QElapsedTimer clock;
    clock.start();
    qint64 parent = 0;
    while (clock.elapsed() < 120000) {
        const int userLength = 10 + rng.bounded(200);
        const qint64 user = store.addMessage(conv, parent, ConversationStore::Role::User, crashText(userLength));
        if (user == 0) break;
        report("committed", user, userLength);
        const qint64 reply = store.beginAssistantMessage(user);
        if (reply == 0) break;
        report("committed", reply, 0);
        const int steps = 3 + rng.bounded(30);
        int length = 0;
        bool ok = true;
        for (int k = 0; k < steps && ok; ++k) {
            length += 1 + rng.bounded(60);
            ok = store.checkpointAssistantMessage(reply, crashText(length));
            if (ok) report("committed", reply, length);
        }
        length += 5;
        if (!ok || !store.finishAssistantMessage(reply, crashText(length), ConversationStore::State::Complete, length))
            break;
        report("committed", reply, length);
        parent = reply;
    }
    std::fprintf(stderr, "%s\n", qPrintable(store.lastError()));
    return store.lastError().isEmpty() ? 0 : 1;
}
