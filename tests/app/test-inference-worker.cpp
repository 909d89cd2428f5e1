// InferenceWorker on its own thread with the real engine and the tiny llama fixture:
// loading (and clear errors for bad files), streaming equal to the engine's own result,
// coalescing, stop before start / mid-stream, session reuse and re-prefill on a KV change,
// memory reports against fp16, map-reduce summarization, and the KV quality check against
// the same chunked perplexity computed here with the engine directly.
#include <QSemaphore>
#include <QSignalSpy>
#include <QTest>
#include <cmath>

#include "app-test-support.h"
#include "core/inference-worker.h"
#include "model/model.h"
#include "runtime/generation.h"
#include "runtime/kv-profile.h"
#include "runtime/session.h"
#include "tokenizer/chat-prompt.h"
#include "tokenizer/tokenizer-loader.h"

class TestInferenceWorker : public QObject {
    Q_OBJECT

    std::unique_ptr<InferenceThread> m_thread;
    InferenceWorker* w() { return m_thread->worker(); }

    GenerationRequest request(qint64 conversation, const QString& user, int maxTokens = 12) {
        GenerationRequest r;
        r.id = w()->nextRequestId();
        r.conversationId = conversation;
        r.turns = {{QStringLiteral("user"), user}};
        r.sampling.temperature = 0;  // greedy: comparable with the engine called directly
        r.sampling.repeatPenalty = 1.0;
        r.sampling.maxTokens = maxTokens;
        r.sampling.contextLength = 256;
        return r;
    }

    GenerationOutcome run(const GenerationRequest& r, QString* streamed = nullptr) {
        QSignalSpy finished(w(), &InferenceWorker::finished);
        QSignalSpy tokens(w(), &InferenceWorker::tokensGenerated);
        m_thread->post([r](InferenceWorker* worker) { worker->generate(r); });
        if (!waitFor(finished)) return {};
        if (streamed) {
            streamed->clear();
            for (const auto& args : tokens)
                if (args.at(0).toInt() == r.id) *streamed += args.at(2).toString();
        }
        return finished.last().at(0).value<GenerationOutcome>();
    }

    static QString sampleText() {
        QString t;
        for (int i = 0; i < 12; ++i)
            t += QStringLiteral("Section %1. The licensor grants you a worldwide, royalty-free license to reproduce, "
                                "prepare derivative works of, publicly display and distribute the work. ")
                     .arg(i + 1);
        return t;
    }

    QualityOutcome runQuality(const QString& spec, int chunk) {
        QualityRequest r;
        r.id = w()->nextRequestId();
        r.text = sampleText();
        r.sourceName = QStringLiteral("sample");
        r.kv.spec = r.kv.name = spec;
        r.chunk = chunk;
        QSignalSpy done(w(), &InferenceWorker::qualityFinished);
        m_thread->post([r](InferenceWorker* worker) { worker->checkQuality(r); });
        if (!waitFor(done)) return {};
        return done.last().at(0).value<QualityOutcome>();
    }

    struct Reference {
        double fp16Ppl = 0, ppl = 0, meanKl = 0;
        int64_t scored = 0, tokens = 0;
    };
    // The check's definition, computed here with one Session per cache and the logits kept:
    // chunks of `chunk` tokens, the tokens after the first chunk scored.
    static Reference reference(const std::string& spec, int64_t chunk) {
        Reference ref;
        auto model = kvmix::Model::load(fixtureModel().toStdString());
        if (!model.ok()) return ref;
        auto tok = kvmix::load_tokenizer((*model)->file());
        if (!tok.ok()) return ref;
        std::vector<int32_t> ids;
        if ((*tok)->add_bos() && (*tok)->bos() >= 0) ids.push_back((*tok)->bos());
        auto enc = (*tok)->encode(sampleText().toStdString(), false, false);
        if (!enc.ok()) return ref;
        ids.insert(ids.end(), enc->begin(), enc->end());
        ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>((*model)->hparams().context_length)));
        const auto n = static_cast<int64_t>(ids.size());
        const int64_t nVocab = (*model)->hparams().n_vocab;
        // rows[j] = logits predicting ids[chunk + j].
        auto logitsWith = [&](const std::string& kv) {
            std::vector<float> rows;
            kvmix::SessionConfig cfg;
            cfg.n_ctx = n;
            cfg.n_batch = chunk;
            cfg.kv_profile = *kvmix::parse_kv_spec(kv, (*model)->hparams().n_layer);
            auto session = kvmix::Session::create(*model, cfg);
            if (!session.ok()) return rows;
            std::vector<float> out;
            for (int64_t b = 0; b < n; b += chunk) {
                const auto part = std::span<const int32_t>(ids).subspan(static_cast<size_t>(b), static_cast<size_t>(std::min(chunk, n - b)));
                if (b == 0) {
                    if (!(*session)->eval(part, &out).ok()) return std::vector<float>{};
                    rows.insert(rows.end(), out.begin(), out.end());
                } else {
                    if (!(*session)->eval(part, nullptr, &out).ok()) return std::vector<float>{};
                    const int64_t keep = std::min<int64_t>(static_cast<int64_t>(part.size()), n - 1 - b);
                    rows.insert(rows.end(), out.begin(), out.begin() + keep * nVocab);
                }
            }
            return rows;
        };
        const std::vector<float> p = logitsWith("fp16");
        const std::vector<float> q = logitsWith(spec);
        const int64_t scored = n - chunk;
        if (static_cast<int64_t>(p.size()) != scored * nVocab || q.size() != p.size()) return ref;
        auto lse = [&](const float* row) {
            double mx = row[0];
            for (int64_t v = 1; v < nVocab; ++v) mx = std::max<double>(mx, row[v]);
            double sum = 0;
            for (int64_t v = 0; v < nVocab; ++v) sum += std::exp(row[v] - mx);
            return std::log(sum) + mx;
        };
        double nllP = 0, nllQ = 0, kl = 0;
        for (int64_t j = 0; j < scored; ++j) {
            const float* a = p.data() + j * nVocab;
            const float* b = q.data() + j * nVocab;
            const double la = lse(a), lb = lse(b);
            const int32_t target = ids[static_cast<size_t>(chunk + j)];
            nllP += la - a[target];
            nllQ += lb - b[target];
            double d = 0;
            for (int64_t v = 0; v < nVocab; ++v) d += std::exp(a[v] - la) * ((a[v] - la) - (b[v] - lb));
            kl += d;
        }
        ref.fp16Ppl = std::exp(nllP / static_cast<double>(scored));
        ref.ppl = std::exp(nllQ / static_cast<double>(scored));
        ref.meanKl = kl / static_cast<double>(scored);
        ref.scored = scored;
        ref.tokens = n;
        return ref;
    }

private slots:
    void init() {
        m_thread = std::make_unique<InferenceThread>();
        QSignalSpy loaded(w(), &InferenceWorker::modelLoaded);
        m_thread->post([](InferenceWorker* worker) { worker->loadModel(fixtureModel()); });
        QVERIFY(waitFor(loaded));
    }
    void cleanup() { m_thread.reset(); }

    void badFilesGiveClearErrors() {
        QSignalSpy failed(w(), &InferenceWorker::modelLoadFailed);
        const QString missing = QStringLiteral("/nonexistent/dir/model.gguf");
        const QString corrupt = QStringLiteral(KVMIX_TEST_DATA_DIR "/corrupt/gguf-bad-magic.gguf");
        m_thread->post([=](InferenceWorker* worker) {
            worker->loadModel(missing);
            worker->loadModel(corrupt);
        });
        QVERIFY(waitFor(failed, 2));
        QCOMPARE(failed.at(0).at(0).toString(), missing);
        QVERIFY2(failed.at(0).at(1).toString().contains(QStringLiteral("model.gguf")), qPrintable(failed.at(0).at(1).toString()));
        QCOMPARE(failed.at(1).at(0).toString(), corrupt);
        QVERIFY(!failed.at(1).at(1).toString().isEmpty());
        // After a failed load there is no model: a request fails with a message, not a crash.
        const GenerationOutcome o = run(request(1, QStringLiteral("hello")));
        QCOMPARE(o.reason, QStringLiteral("error"));
        QVERIFY(o.error.contains(QStringLiteral("No model")));
    }

    void modelInfoMatchesTheFixture() {
        QSignalSpy loaded(w(), &InferenceWorker::modelLoaded);
        m_thread->post([](InferenceWorker* worker) { worker->loadModel(fixtureModel()); });
        QVERIFY(waitFor(loaded));
        const auto info = loaded.first().at(0).value<ModelInfo>();
        QCOMPARE(info.nLayer, 2);  // MANIFEST.json: tiny-llama
        QCOMPARE(info.contextLength, 256);
        QCOMPARE(info.nVocab, 512);
        QCOMPARE(info.layers.size(), 2);
        QCOMPARE(info.layers[0].nHeadKv, 2);
        QCOMPARE(info.layers[0].headDim, 16);
        QCOMPARE(info.format, QStringLiteral("gguf"));
    }

    void streamEqualsTheEngineResult() {
        const GenerationRequest r = request(7, QStringLiteral("The license says"), 24);
        QString streamed;
        const GenerationOutcome o = run(r, &streamed);
        QVERIFY2(o.reason == QLatin1String("eog") || o.reason == QLatin1String("max_tokens"), qPrintable(o.reason + o.error));
        QCOMPARE(streamed, o.text);
        QVERIFY(o.generated > 0);

        // Independent reference: the engine driven directly, same prompt, greedy.
        auto model = kvmix::Model::load(fixtureModel().toStdString());
        QVERIFY(model.ok());
        auto tok = kvmix::load_tokenizer((*model)->file());
        QVERIFY(tok.ok());
        auto prompt = kvmix::build_chat_prompt((*model)->file(), **tok, {{"user", "The license says"}});
        QVERIFY(prompt.ok());
        kvmix::SessionConfig cfg;
        cfg.n_ctx = 256;
        auto session = kvmix::Session::create(*model, cfg);
        QVERIFY(session.ok());
        kvmix::GenerationParams p;
        p.sampling.temperature = 0;
        p.max_tokens = 24;
        p.context_policy = kvmix::ContextPolicy::truncate_middle;
        p.keep_prefix = 1;
        auto ref = kvmix::generate(**session, **tok, prompt->tokens, p);
        QVERIFY(ref.ok());
        QCOMPARE(o.text, QString::fromStdString(ref->text));
        QCOMPARE(o.generated, static_cast<qint64>(ref->tokens.size()));
    }

    void coalescesTokenUpdates() {
        GenerationRequest r = request(8, QStringLiteral("Once upon a time"), 100);
        QSignalSpy tokens(w(), &InferenceWorker::tokensGenerated);
        QElapsedTimer t;
        t.start();
        const GenerationOutcome o = run(r);
        const qint64 ms = t.elapsed();
        QVERIFY(o.generated > 0);
        // At most one update per 33 ms plus the final flush, and never more than one per token.
        QVERIFY2(tokens.count() <= ms / InferenceWorker::kCoalesceMs + 2, qPrintable(QString::number(tokens.count())));
        QVERIFY(tokens.count() <= o.generated);
    }

    void stopBeforeStartCancels() {
        // Hold the worker so the request is still queued when stop() arrives.
        QSemaphore gate;
        m_thread->post([&gate](InferenceWorker*) { gate.acquire(); });
        const GenerationRequest r = request(9, QStringLiteral("hello"), 50);
        QSignalSpy finished(w(), &InferenceWorker::finished);
        m_thread->post([r](InferenceWorker* worker) { worker->generate(r); });
        w()->stop(r.id);
        gate.release();
        QVERIFY(waitFor(finished));
        const auto o = finished.first().at(0).value<GenerationOutcome>();
        QCOMPARE(o.reason, QStringLiteral("cancelled"));
        QCOMPARE(o.generated, qint64(0));
        // A later request is not affected by the earlier stop.
        QVERIFY(run(request(9, QStringLiteral("hello"), 4)).reason != QLatin1String("cancelled"));
    }

    void stopMidStreamKeepsThePartialAnswer() {
        w()->setCoalesceIntervalMs(0);
        GenerationRequest r = request(10, QStringLiteral("Tell me a long story"), 120);
        r.sampling.contextPolicy = QStringLiteral("rolling");
        // Stop from the worker thread as soon as the first text arrives: the engine checks
        // the flag before the next token.
        InferenceWorker* worker = w();
        const int id = r.id;
        auto conn = connect(worker, &InferenceWorker::tokensGenerated, worker, [worker, id](int req, qint64, const QString&) {
            if (req == id) worker->stop(id);
        }, Qt::DirectConnection);
        QString streamed;
        const GenerationOutcome o = run(r, &streamed);
        disconnect(conn);
        // Greedy decoding: the fixture's answer to this prompt is always longer than one
        // token, so the stop lands mid-stream (an answer that ended at once fails here).
        QCOMPARE(o.reason, QStringLiteral("cancelled"));
        QVERIFY2(o.generated >= 1 && o.generated <= 2, qPrintable(QString::number(o.generated)));
        QCOMPARE(streamed, o.text);
    }

    void reusesTheSessionAndReprefillsOnKvChange() {
        GenerationRequest first = request(11, QStringLiteral("Hello there"), 8);
        const GenerationOutcome a = run(first);
        QVERIFY(a.generated > 0);
        QVERIFY(!a.reprefilled);
        QCOMPARE(a.promptEvaluated, a.promptTokens);

        // The next turn extends the conversation: only the new tokens are evaluated.
        GenerationRequest second = request(11, QString(), 8);
        second.turns = {{QStringLiteral("user"), QStringLiteral("Hello there")},
                        {QStringLiteral("assistant"), a.text},
                        {QStringLiteral("user"), QStringLiteral("And then?")}};
        const GenerationOutcome b = run(second);
        QVERIFY(b.generated > 0);
        QVERIFY2(b.promptEvaluated < b.promptTokens, qPrintable(QStringLiteral("%1 of %2").arg(b.promptEvaluated).arg(b.promptTokens)));

        // fp16: the report's true bytes equal the fp16 bytes.
        QSignalSpy memory(w(), &InferenceWorker::memoryChanged);
        second.id = w()->nextRequestId();
        run(second);
        QVERIFY(!memory.isEmpty());
        auto m = memory.last().at(0).value<KvMemoryInfo>();
        QCOMPARE(m.conversationId, qint64(11));
        QCOMPARE(m.bytes, m.fp16Bytes);
        QCOMPARE(m.layers.size(), 2);

        // k2v2: the session is rebuilt (re-prefill) and the cache is smaller than fp16 once
        // tokens fall out of the full-precision window.
        GenerationRequest third = request(11, QString(), 40);
        third.turns = second.turns;
        third.turns[2].content = QStringLiteral("And then? ") + QString(QStringLiteral("Tell me more about it. ")).repeated(8);
        third.kv.spec = QStringLiteral("k2v2");
        third.kv.name = QStringLiteral("compact");
        memory.clear();
        const GenerationOutcome c = run(third);
        QVERIFY2(!c.failed(), qPrintable(c.error));
        QVERIFY(c.reprefilled);
        QCOMPARE(c.promptEvaluated, c.promptTokens);
        m = memory.last().at(0).value<KvMemoryInfo>();
        QVERIFY(m.tokens > 100);
        QVERIFY2(m.bytes < m.fp16Bytes, qPrintable(QStringLiteral("%1 vs %2").arg(m.bytes).arg(m.fp16Bytes)));
        QCOMPARE(m.layers[0].kBits < 16.0, true);
    }

    void customBitsAreValidated() {
        GenerationRequest r = request(12, QStringLiteral("hi"), 4);
        r.kv.layerBits = {4, 4};  // one layer; the model has two
        const GenerationOutcome o = run(r);
        QCOMPARE(o.reason, QStringLiteral("error"));
        QVERIFY2(o.error.contains(QStringLiteral("2")), qPrintable(o.error));
        r.id = w()->nextRequestId();
        r.kv.layerBits = {4, 4, 2, 8};
        QVERIFY(!run(r).failed());
    }

    void summarizesLongDocumentsByMapReduce() {
        SummaryRequest r;
        r.id = w()->nextRequestId();
        r.documentName = QStringLiteral("long.txt");
        // About 1000 tokens: four times the fixture's context.
        r.text = QString(QStringLiteral("This program is free software: you can redistribute it and/or modify it. ")).repeated(60);
        r.sampling.temperature = 0;
        r.sampling.contextLength = 256;
        r.summaryTokens = 24;
        QSignalSpy done(w(), &InferenceWorker::summaryFinished);
        QSignalSpy progress(w(), &InferenceWorker::progress);
        m_thread->post([r](InferenceWorker* worker) { worker->summarize(r); });
        QVERIFY(waitFor(done, 1, 120000));
        const auto o = done.first().at(0).value<SummaryOutcome>();
        // Greedy decoding: the fixture writes the same non-empty summaries on every run.
        QVERIFY2(o.reason == QLatin1String("complete"), qPrintable(o.reason + ": " + o.error));
        QVERIFY(!o.summary.isEmpty());
        QVERIFY(o.documentTokens > 256);
        QVERIFY(o.chunks > 1);
        QVERIFY(o.passes >= 1);
        int fromSummary = 0;
        for (const auto& args : progress)
            if (args.at(0).toInt() == r.id) ++fromSummary;
        QVERIFY(fromSummary >= o.chunks);  // one per map step at least

        // Cancelled before it starts.
        SummaryRequest c = r;
        c.id = w()->nextRequestId();
        w()->stop(c.id);
        m_thread->post([c](InferenceWorker* worker) { worker->summarize(c); });
        QVERIFY(waitFor(done, 2));
        QCOMPARE(done.at(1).at(0).value<SummaryOutcome>().reason, QStringLiteral("cancelled"));
    }

    void qualityCheckFp16AgainstItselfIsExact() {
        const QualityOutcome o = runQuality(QStringLiteral("fp16"), 64);
        QVERIFY2(o.reason == QLatin1String("complete"), qPrintable(o.error));
        QCOMPARE(o.tokens, qint64(256));  // the fixture's context: the text is cut to it
        QCOMPARE(o.scored, qint64(256 - 64));
        QVERIFY(o.fp16Perplexity > 1);
        QCOMPARE(o.perplexity - o.fp16Perplexity, 0.0);
        QCOMPARE(o.meanKl, 0.0);
    }

    void qualityCheckMatchesTheEngine() {
        const QualityOutcome o = runQuality(QStringLiteral("k2v2"), 64);
        QVERIFY2(o.reason == QLatin1String("complete"), qPrintable(o.error));
        const Reference ref = reference("k2v2", 64);
        QVERIFY(ref.scored > 0);
        QCOMPARE(o.scored, qint64(ref.scored));
        QCOMPARE(o.tokens, qint64(ref.tokens));
        QCOMPARE(o.kvName, QStringLiteral("k2v2"));
        auto close = [](double a, double b) { return std::abs(a - b) <= 1e-9 * std::abs(b); };
        QVERIFY2(close(o.fp16Perplexity, ref.fp16Ppl), qPrintable(QStringLiteral("%1 vs %2").arg(o.fp16Perplexity, 0, 'g', 17).arg(ref.fp16Ppl, 0, 'g', 17)));
        QVERIFY2(close(o.perplexity, ref.ppl), qPrintable(QStringLiteral("%1 vs %2").arg(o.perplexity, 0, 'g', 17).arg(ref.ppl, 0, 'g', 17)));
        QVERIFY2(close(o.meanKl, ref.meanKl), qPrintable(QStringLiteral("%1 vs %2").arg(o.meanKl, 0, 'g', 17).arg(ref.meanKl, 0, 'g', 17)));
        // 2-bit keys and values really change the distributions of the later chunks.
        QVERIFY(o.meanKl > 0);
        QVERIFY(o.perplexity != o.fp16Perplexity);
    }

    void qualityCheckCancels() {
        // Stopped before it starts.
        QualityRequest r;
        r.id = w()->nextRequestId();
        r.text = sampleText();
        r.kv.spec = r.kv.name = QStringLiteral("k2v2");
        r.chunk = 16;
        QSignalSpy done(w(), &InferenceWorker::qualityFinished);
        w()->stop(r.id);
        m_thread->post([r](InferenceWorker* worker) { worker->checkQuality(r); });
        QVERIFY(waitFor(done));
        QCOMPARE(done.last().at(0).value<QualityOutcome>().reason, QStringLiteral("cancelled"));

        // Stopped while it runs: at its second chunk's progress report.
        r.id = w()->nextRequestId();
        const int id = r.id;
        InferenceWorker* worker = w();
        int reports = 0;
        auto c = connect(worker, &InferenceWorker::progress, worker, [&reports, worker, id](int rid, const QString&, double) {
            if (rid == id && ++reports == 2) worker->stop(id);
        }, Qt::DirectConnection);
        m_thread->post([r](InferenceWorker* wk) { wk->checkQuality(r); });
        QVERIFY(waitFor(done, 2));
        disconnect(c);
        const auto o = done.last().at(0).value<QualityOutcome>();
        QCOMPARE(o.reason, QStringLiteral("cancelled"));
        QCOMPARE(reports, 2);

        // The worker goes on with the next request.
        QCOMPARE(runQuality(QStringLiteral("k4v4"), 64).reason, QStringLiteral("complete"));
    }
};

QTEST_GUILESS_MAIN(TestInferenceWorker)
#include "test-inference-worker.moc"
