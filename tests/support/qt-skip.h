// KVMIX_QSKIP(message): QSKIP for the Qt tests, under the skip policy of skip-policy.h —
// a plain skip outside CI; under CI a failure (QFAIL) unless tests/expected-skips.txt lists
// this test and message. Use it instead of QSKIP.
#pragma once

#include <QCoreApplication>
#include <QString>
#include <QTest>

#include "skip-policy.h"

namespace kvmix_test {

inline std::string qt_test_name() {
#ifdef KVMIX_TEST_NAME
    return KVMIX_TEST_NAME;
#else
    return QCoreApplication::applicationName().toStdString();
#endif
}

}  // namespace kvmix_test

#define KVMIX_QSKIP(message)                                                                                         \
    do {                                                                                                             \
        const QString kvmix_skip_message_ = (message);                                                               \
        const ::kvmix_test::SkipVerdict kvmix_verdict_ =                                                             \
            ::kvmix_test::judge_skip(::kvmix_test::qt_test_name(), kvmix_skip_message_.toStdString());               \
        const QString kvmix_note_ = QString::fromStdString(kvmix_verdict_.note);                                     \
        if (!kvmix_verdict_.allowed)                                                                                 \
            QFAIL(qPrintable(QStringLiteral("skipped (%1) -- %2").arg(kvmix_skip_message_, kvmix_note_)));           \
        QSKIP(qPrintable(kvmix_note_.isEmpty() ? kvmix_skip_message_ : kvmix_skip_message_ + " -- " + kvmix_note_)); \
    } while (0)
