// ThreadPool: a fixed set of worker threads that run one parallel_for at a time.
// The calling thread takes part, so ThreadPool(1) runs everything inline.
// Owned by a backend (one per session or shared by sessions that never run at once);
// parallel_for is not re-entrant and must be called from one thread at a time.
#pragma once

#include <atomic>
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

    // Calls fn(begin, end) on disjoint chunks covering [0, n), at most one chunk per thread,
    // chunk boundaries rounded to multiples of `grain`. Returns when every chunk is done.
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

private:
    void worker(int index);
    void run_chunk(int index);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_cv_;
    uint64_t generation_ = 0;
    bool stopping_ = false;
    int pending_ = 0;
    // The current job, valid while pending_ > 0.
    const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    int64_t job_n_ = 0;
    int64_t job_grain_ = 1;
    int job_chunks_ = 0;
};

}  // namespace kvmix
