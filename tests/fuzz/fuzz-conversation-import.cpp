// libFuzzer harness for conversation import (ConversationStore::importJson, the user's
// JSON export files) on a real SQLite store in a temporary folder. A refused file must
// say why, as an invalid argument, and leave the store as it was; an accepted one must
// export, and export -> import -> export must give identical bytes (the documented
// round trip). Conversations are purged after every input so the store stays small.
// Built only where the main build has Qt (the app core); Qt itself is not instrumented.
//
// With KVMIX_FUZZ_WRITE_SEEDS=<dir> in the environment the harness writes the export of a
// branched conversation (edits, regenerations, every state) into <dir> instead.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <QCoreApplication>
#include <QFile>
#include <QTemporaryDir>

#include "core/conversation-store.h"

namespace {

ConversationStore* g_store = nullptr;
QTemporaryDir* g_dir = nullptr;

ConversationStore& store() {
    return *g_store;
}

[[noreturn]] void die(const QString& what) {
    std::fprintf(stderr, "fuzz-conversation-import: %s: %s\n", qPrintable(what), qPrintable(store().lastError()));
    std::abort();
}

void write_seed(const QString& dir) {
    using Role = ConversationStore::Role;
    ConversationStore& s = store();
    QJsonObject sampling;
    sampling[QStringLiteral("temperature")] = 0.7;
    sampling[QStringLiteral("seed")] = 42;
    const qint64 c =
        s.createConversation(QStringLiteral("Gr\u00fc\u00dfe \u2014 a branched chat"), QStringLiteral("Be brief."),
                             QStringLiteral("/models/tiny.gguf"), QStringLiteral("balanced"), sampling);
    if (!c) die(QStringLiteral("create"));
    const qint64 u = s.addMessage(c, 0, Role::User, QStringLiteral("Hello \U0001F600\nline two"));
    const qint64 a = s.beginAssistantMessage(u);
    if (!u || !a || !s.checkpointAssistantMessage(a, QStringLiteral("Hi")) ||
        !s.finishAssistantMessage(a, QStringLiteral("Hi there."), ConversationStore::State::Complete, 3,
                                  QJsonObject{{QStringLiteral("decode_tps"), 12.5}}))
        die(QStringLiteral("answer"));
    const qint64 again = s.beginAssistantMessage(u);
    if (!again || !s.finishAssistantMessage(again, QStringLiteral("Stopped"), ConversationStore::State::Stopped, 1))
        die(QStringLiteral("regenerate"));
    const qint64 edited = s.editMessage(u, QStringLiteral("Hello, edited"));
    if (!edited || !s.beginAssistantMessage(edited)) die(QStringLiteral("edit"));
    if (s.recoverInterrupted() != 1) die(QStringLiteral("recover"));
    if (!s.setCurrentMessage(c, a) || !s.setPinned(c, true)) die(QStringLiteral("select"));
    QFile out(dir + QStringLiteral("/branched.json"));
    if (!out.open(QIODevice::WriteOnly) || out.write(s.exportJson(c)) <= 0) die(QStringLiteral("write the seed"));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    new QCoreApplication(*argc, *argv);  // the SQLite driver is a Qt plugin; lives until exit
    g_dir = new QTemporaryDir;
    g_store = new ConversationStore;
    if (!g_dir->isValid() || !g_store->open(g_dir->filePath(QStringLiteral("conversations.db"))))
        die(QStringLiteral("open"));
    // Registered after open(), so this runs before Qt's own statics go (atexit is LIFO).
    std::atexit([] {
        delete g_store;
        delete g_dir;
    });
    if (const char* seeds = std::getenv("KVMIX_FUZZ_WRITE_SEEDS"); seeds && *seeds) {
        write_seed(QString::fromLocal8Bit(seeds));
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ConversationStore& s = store();
    const QByteArray input = QByteArray::fromRawData(reinterpret_cast<const char*>(data), static_cast<qsizetype>(size));
    const qint64 id = s.importJson(input);
    if (!id) {
        if (s.lastError().isEmpty() || s.lastErrorKind() != ConversationStore::ErrorKind::InvalidArgument)
            __builtin_trap();
        if (!s.listConversations().isEmpty()) __builtin_trap();  // nothing written
        return 0;
    }
    const QByteArray first = s.exportJson(id);
    if (first.isEmpty() || s.exportMarkdown(id).isEmpty()) __builtin_trap();
    const qint64 copy = s.importJson(first);
    if (!copy || s.exportJson(copy) != first) __builtin_trap();
    if (s.messages(copy).size() != s.messages(id).size() || s.activePath(copy).size() != s.activePath(id).size())
        __builtin_trap();
    if (!s.deleteConversation(id) || !s.deleteConversation(copy) || s.purgeDeleted() != 2) __builtin_trap();
    return 0;
}
