#include "backend/thread-pool.h"

#include <algorithm>

namespace kvmix {

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n_threads_ = n_threads;
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
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

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
        }
        run_chunk(index);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--pending_ == 0) done_cv_.notify_one();
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
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &fn;
        job_n_ = n;
        job_grain_ = grain;
        job_chunks_ = chunks;
        pending_ = n_threads_ - 1;
        ++generation_;
    }
    wake_.notify_all();
    run_chunk(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
}

}  // namespace kvmix
