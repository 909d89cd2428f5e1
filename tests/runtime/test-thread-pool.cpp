// backend/thread-pool.h: every index of every parallel_for runs exactly once, in chunks that
// respect the grain and the thread count, whether the workers are spinning or asleep.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "backend/thread-pool.h"
#include "check.h"

using namespace kvmix;

namespace {

// Runs one parallel_for and checks coverage, chunk count and grain alignment.
void run_and_check(ThreadPool& pool, int64_t n, int64_t grain) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<int> chunks{0};
    std::atomic<bool> misaligned{false};
    pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        chunks.fetch_add(1);
        if (b % grain != 0 || (e % grain != 0 && e != n) || b >= e) misaligned.store(true);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    int wrong = 0;
    for (const auto& h : hits) wrong += h.load() != 1;
    CHECK_EQ(wrong, 0);
    CHECK(chunks.load() >= 1 && chunks.load() <= pool.size());
    CHECK(!misaligned.load());
}

}  // namespace

TEST_CASE("back-to-back jobs (spinning workers) cover every index once") {
    ThreadPool pool(4);
    CHECK_EQ(pool.size(), 4);
    for (int rep = 0; rep < 3000; ++rep) run_and_check(pool, 1 + rep % 97, 1 + rep % 5);
}

TEST_CASE("jobs after an idle gap (sleeping workers) cover every index once") {
    ThreadPool pool(3);
    for (int rep = 0; rep < 6; ++rep) {
        // Longer than the spin, so both the workers and the caller take the blocking path.
        std::this_thread::sleep_for(ThreadPool::kSpin * 20);
        run_and_check(pool, 1000, 8);
    }
    // A job whose chunks outlast the caller's spin, the longer one for running workers
    // included: the caller sleeps until the last worker.
    std::atomic<int> done{0};
    pool.parallel_for(3, 1, [&](int64_t b, int64_t e) {
        if (b != 0) std::this_thread::sleep_for(ThreadPool::kMaxCallerSpin + ThreadPool::kSpin * 10);
        done.fetch_add(static_cast<int>(e - b));
    });
    CHECK_EQ(done.load(), 3);
}

// Slow jobs (the worker's chunk outlasts the caller's spin, the longer one for running
// workers included) until the pool stops spinning; false if it never did.
bool start_back_off(ThreadPool& pool) {
    const auto slow = [&](int64_t b, int64_t) {
        if (b != 0) std::this_thread::sleep_for(ThreadPool::kMaxCallerSpin + ThreadPool::kSpin * 20);  // the worker's chunk
    };
    const auto quick = [](int64_t, int64_t) {};
    // kMissesToStop slow jobs are enough on an idle machine; on a loaded one preemption can
    // make a slow job look quick or a quick one time out, so the counts are only bounded.
    for (int slow_jobs = 0; slow_jobs < 4 * ThreadPool::kMissesToStop; ++slow_jobs) {
        pool.parallel_for(2, 1, slow);
        pool.parallel_for(2, 1, quick);  // the job after the last time-out shows the back-off
        if (!pool.spinning()) return true;
    }
    return false;
}

// Quick jobs until the pool spins again (at most `limit`); returns how many ran.
int jobs_until_spinning(ThreadPool& pool, int limit) {
    int jobs = 1;
    while (!pool.spinning() && jobs < limit) {
        run_and_check(pool, 4, 1);
        ++jobs;
    }
    return jobs;
}

TEST_CASE("waits that outlast the spin make the pool block at once for a while, then spin again") {
    ThreadPool pool(2);
    pool.parallel_for(2, 1, [](int64_t, int64_t) {});
    CHECK(pool.spinning());
    REQUIRE(start_back_off(pool));
    // It spins again after kSleepJobs jobs (later only if preemption on a loaded machine
    // made some of these quick jobs outlast the spin, which starts another back-off).
    const int jobs = jobs_until_spinning(pool, 8 * ThreadPool::kSleepJobs);
    CHECK(pool.spinning());
    CHECK(jobs > ThreadPool::kSleepJobs / 2);
}

TEST_CASE("a back-off right after the last one lasts twice as long; after a long spinning run, the base length") {
    ThreadPool pool(2);
    REQUIRE(start_back_off(pool));
    const int first = jobs_until_spinning(pool, 8 * ThreadPool::kSleepJobs);
    REQUIRE(pool.spinning());
    // Straight away again: a machine that stays loaded tries spinning less and less often.
    REQUIRE(start_back_off(pool));
    const int second = jobs_until_spinning(pool, 16 * ThreadPool::kSleepJobs);
    CHECK(pool.spinning());
    CHECK(first <= ThreadPool::kSleepJobs + 1);
    CHECK(second > 3 * ThreadPool::kSleepJobs / 2);
    // kSleepJobs spinning jobs later the next back-off starts over at kSleepJobs (unless
    // preemption on a loaded machine started one in between, which restarts the count).
    bool kept_spinning = true;
    for (int i = 0; i < ThreadPool::kSleepJobs + 16; ++i) {
        pool.parallel_for(2, 1, [](int64_t, int64_t) {});
        kept_spinning = kept_spinning && pool.spinning();
    }
    REQUIRE(start_back_off(pool));
    const int third = jobs_until_spinning(pool, 16 * ThreadPool::kSleepJobs);
    if (kept_spinning) CHECK(third <= ThreadPool::kSleepJobs + 1);
}

TEST_CASE("uneven halves of long jobs keep the pool spinning") {
    // The caller's chunk takes 20 spins and the worker's a quarter longer: the worker is
    // running, so the wait (5 spins) is within the caller's spin (half its chunk) and never
    // counts as a miss, however many such jobs run.
    ThreadPool pool(2);
    const auto uneven = [&](int64_t b, int64_t) { std::this_thread::sleep_for(ThreadPool::kSpin * (b == 0 ? 20 : 25)); };
    int stopped = 0;
    for (int job = 0; job < 4 * ThreadPool::kMissesToStop; ++job) {
        pool.parallel_for(2, 1, uneven);
        stopped += !pool.spinning();
    }
    CHECK_EQ(stopped, 0);
    CHECK(ThreadPool::caller_spin(std::chrono::microseconds(0)) == ThreadPool::kSpin);
    CHECK(ThreadPool::caller_spin(ThreadPool::kSpin * 20) == ThreadPool::kSpin * 10);
    CHECK(ThreadPool::caller_spin(std::chrono::seconds(1)) == ThreadPool::kMaxCallerSpin);
}

TEST_CASE("fewer blocks than threads, one thread, empty ranges") {
    ThreadPool pool(4);
    run_and_check(pool, 2, 1);   // two chunks, two workers idle
    run_and_check(pool, 10, 64); // one block: runs inline
    int calls = 0;
    pool.parallel_for(0, 1, [&](int64_t, int64_t) { ++calls; });
    CHECK_EQ(calls, 0);
    ThreadPool single(1);
    CHECK_EQ(single.size(), 1);
    run_and_check(single, 100, 7);
}

TEST_CASE("destruction with workers spinning and with workers asleep") {
    for (int rep = 0; rep < 50; ++rep) {
        ThreadPool pool(3);
        run_and_check(pool, 64, 1);
    }  // destroyed right after a job, workers still spinning
    ThreadPool pool(3);
    run_and_check(pool, 64, 1);
    std::this_thread::sleep_for(ThreadPool::kSpin * 20);  // workers now asleep
}
KVMIX_TEST_MAIN()
