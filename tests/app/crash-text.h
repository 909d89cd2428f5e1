// The text store-crash-writer writes: crashText(n) is a prefix of crashText(m) for n <= m,
// so the crash test can check that a message holds at least what was reported committed.
#pragma once

#include <QString>

inline QString crashText(int length) {
    static const QString alphabet = QStringLiteral("abcdefghij klmnopqrst uvwxyz é ж 漢 ");
    QString s;
    s.reserve(length);
    for (int i = 0; i < length; ++i) s += alphabet[(i * 7) % alphabet.size()];
    return s;
}
