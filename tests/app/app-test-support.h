// Helpers shared by the app tests: the tiny fixture model and waiting for worker signals.
#pragma once

#include <QSignalSpy>
#include <QString>
#include <QTest>

inline QString fixtureModel(const char* name = "tiny-llama-q8_0.gguf") {
    return QStringLiteral(KVMIX_TEST_DATA_DIR "/models/") + QString::fromLatin1(name);
}

// Waits until spy has at least n signals (generous: the CPU may be shared).
inline bool waitFor(QSignalSpy& spy, int n = 1, int timeoutMs = 60000) {
    QElapsedTimer t;
    t.start();
    while (spy.count() < n && t.elapsed() < timeoutMs) spy.wait(200);
    return spy.count() >= n;
}
