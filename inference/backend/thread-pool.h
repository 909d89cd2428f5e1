// ThreadPool: a fixed set of worker threads that run one parallel_for at a time.
// The calling thread takes part, so ThreadPool(1) runs everything inline.
// Owned by a backend (one per session or shared by sessions that never run at once);
// parallel_for is not re-entrant and must be called from one thread at a time.
//
// A decode step is a few hundred short parallel_for calls (tens of microseconds each), so a
// wake-up through a condition variable alone (a futex call and a context switch on both
// sides) would cost about as much as the work. Workers and the caller therefore spin on
// atomics for a short while (kSpin) before they block; an idle pool sleeps and uses no CPU.
// When the caller's waits keep outlasting its spin (more runnable threads than cores), the
// pool stops spinning for a while (see parallel_for); the caller spins longer after long
// chunks of its own, and longer again while every worker has taken the job, so that uneven
// halves and short preemptions of running workers do not count as missing workers.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvmix {

class ThreadPool {
public:
    // n_threads <= 0 picks the number of hardware threads.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // Whether the last parallel_for let its threads spin (false while backing off).
    bool spinning() const { return spinning_.load(std::memory_order_relaxed); }

    // Calls fn(begin, end) on disjoint chunks covering [0, n), at most one chunk per thread,
    // chunk boundaries rounded to multiples of `grain`. Returns when every chunk is done.
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

    static constexpr std::chrono::microseconds kSpin{100};
    static constexpr std::chrono::microseconds kMaxCallerSpin{2000};
    // How long the caller spins for the workers after its own chunk took `own`: kSpin, or
    // half its chunk for long jobs (at most kMaxCallerSpin).
    static std::chrono::microseconds caller_spin(std::chrono::microseconds own) {
        return std::min(kMaxCallerSpin, std::max(kSpin, own / 2));
    }
    static constexpr int kMissesToStop = 8;     // net spin time-outs before the pool stops spinning
    static constexpr int kHitsToForgive = 16;   // quick jobs that cancel one time-out
    static constexpr int kSleepJobs = 4096;     // jobs without spinning (about 10 decode steps)
    // A back-off that starts within kSleepJobs spinning jobs of the last one doubles, up to
    // kMaxSleepJobs: under sustained load each try at spinning costs up to kMissesToStop long
    // waits, so the tries thin out; a back-off after a longer spinning run starts over.
    static constexpr int kMaxSleepJobs = 16 * kSleepJobs;

private:
    void worker(int index);
    void run_chunk(int index);
    // Blocks until generation_ != seen or stopping_; returns false when stopping.
    bool wait_for_job(uint64_t seen);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    // generation_ and pending_ are the fast path; the mutex and condition variables only
    // serve threads that stopped spinning (sleepers_ / caller_sleeping_ say whether any did).
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<int> started_{0};  // workers that have taken the current job
    std::atomic<bool> stopping_{false};
    std::atomic<int> sleepers_{0};
    std::atomic<bool> caller_sleeping_{false};
    std::atomic<bool> spinning_{true};  // whether workers spin after the current job
    // Caller-side spin bookkeeping (parallel_for runs on one thread at a time).
    int misses_ = 0, hits_ = 0, sleep_jobs_left_ = 0;
    int sleep_jobs_ = kSleepJobs;  // length of the next back-off
    int spin_jobs_ = kSleepJobs;   // spinning jobs since the last back-off ended
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_cv_;
    // The current job, written before generation_ is bumped (release) and read after a
    // worker sees the new generation (acquire).
    const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    int64_t job_n_ = 0;
    int64_t job_grain_ = 1;
    int job_chunks_ = 0;
};

}  // namespace kvmix
