#include "backend/thread-pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kvmix {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Spins until done() or `limit` has passed (a pause costs 10-140 cycles depending on the
// CPU, so the limit is in time, read every 64 pauses). Returns done()'s last value.
template <typename Done>
bool spin_until(Done done, std::chrono::microseconds limit) {
    if (limit.count() <= 0) return done();
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() - start > limit) return done();
    }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n_threads_ = n_threads;
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunk(int index) {
    if (index >= job_chunks_) return;
    const int64_t blocks = (job_n_ + job_grain_ - 1) / job_grain_;
    const int64_t b0 = blocks * index / job_chunks_, b1 = blocks * (index + 1) / job_chunks_;
    const int64_t begin = std::min(job_n_, b0 * job_grain_), end = std::min(job_n_, b1 * job_grain_);
    if (begin < end) (*job_)(begin, end);
}

bool ThreadPool::wait_for_job(uint64_t seen) {
    const std::chrono::microseconds limit = spinning_.load(std::memory_order_relaxed) ? kSpin : std::chrono::microseconds(0);
    if (spin_until([&] { return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed); },
                   limit))
        return !stopping_.load();
    std::unique_lock<std::mutex> lock(mutex_);
    // seq_cst increment, then the predicate's seq_cst load: parallel_for bumps the
    // generation and then reads sleepers_, so one of the two sides sees the other.
    sleepers_.fetch_add(1);
    wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
    sleepers_.fetch_sub(1);
    return !stopping_.load();
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        if (!wait_for_job(seen)) return;
        seen = generation_.load(std::memory_order_acquire);
        started_.fetch_add(1, std::memory_order_relaxed);
        run_chunk(index);
        // seq_cst decrement, then the load of caller_sleeping_: parallel_for stores that flag and
        // then reads pending_, so either it sees 0 or this thread sees it asleep.
        if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
            std::lock_guard<std::mutex> lock(mutex_);
            done_cv_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t blocks = (n + grain - 1) / grain;
    const int chunks = static_cast<int>(std::min<int64_t>(n_threads_, blocks));
    if (chunks <= 1) {
        fn(0, n);
        return;
    }
    // Spinning pays on idle cores and costs dearly when other processes want them: a
    // spinning thread holds a core the thread it waits for may need, and it loses the
    // scheduler's preference for threads that slept. So after kMissesToStop caller waits
    // that outlasted the spin (the workers were not running), the pool blocks straight
    // away for the next kSleepJobs jobs (more if it keeps failing, see kMaxSleepJobs), then
    // tries spinning again. The caller's spin grows with its own chunk (caller_spin): in a
    // job of milliseconds (a decode step's matmuls and attention) a worker that is a tenth
    // slower is running, not missing, and counting that as a miss would put every job of the
    // step through two futex wake-ups.
    bool spin = true;
    if (sleep_jobs_left_ > 0) {
        --sleep_jobs_left_;
        spin = false;
    }
    spinning_.store(spin, std::memory_order_relaxed);
    job_ = &fn;
    job_n_ = n;
    job_grain_ = grain;
    job_chunks_ = chunks;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    started_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1);  // seq_cst: publishes the job (see wait_for_job)
    if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_.notify_all();
    }
    const auto t0 = std::chrono::steady_clock::now();
    run_chunk(0);
    const auto own = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    const auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    bool quick = spin_until(done, spin ? caller_spin(own) : std::chrono::microseconds(0));
    // Every worker has taken the job, so they are running: the wait is an uneven split or a
    // short preemption (on a VM, a busier host core). Keep spinning, up to kMaxCallerSpin.
    // Blocking here is what went wrong on idle machines: the worker's futex wake-up tends to
    // move the caller onto the worker's core, the two then slow each other down, more waits
    // time out, and the pool backed off for thousands of jobs at a time. Only a wait that
    // outlasts this too counts as a miss.
    if (!quick && spin && started_.load(std::memory_order_relaxed) == n_threads_ - 1) quick = spin_until(done, kMaxCallerSpin);
    if (spin) {
        if (spin_jobs_ < kSleepJobs) ++spin_jobs_;  // only compared with kSleepJobs: capped, never overflows
        if (!quick && ++misses_ >= kMissesToStop) {
            sleep_jobs_ = spin_jobs_ < kSleepJobs ? std::min(2 * sleep_jobs_, kMaxSleepJobs) : kSleepJobs;
            sleep_jobs_left_ = sleep_jobs_;
            spin_jobs_ = 0;
            misses_ = 0;
        } else if (quick && misses_ > 0 && ++hits_ >= kHitsToForgive) {
            --misses_;
            hits_ = 0;
        }
    }
    if (!quick) {
        std::unique_lock<std::mutex> lock(mutex_);
        caller_sleeping_.store(true);  // seq_cst, then the predicate's load (see worker())
        done_cv_.wait(lock, [&] { return pending_.load() == 0; });
        caller_sleeping_.store(false);
    }
    job_ = nullptr;
}

}  // namespace kvmix
