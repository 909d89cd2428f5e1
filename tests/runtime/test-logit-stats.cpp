// runtime/logit-stats.h against values worked out by hand.
#include <cmath>
#include <limits>
#include <vector>

#include "check.h"
#include "runtime/logit-stats.h"

using namespace kvmix;

TEST_CASE("log_sum_exp: exact sums, no overflow at large logits") {
    const std::vector<float> a = {0.0f, std::log(3.0f)};
    CHECK_CLOSE(log_sum_exp(a.data(), 2), std::log(4.0), 1e-7);
    const std::vector<float> big = {1000.0f, 1000.0f, 1000.0f};
    CHECK_CLOSE(log_sum_exp(big.data(), 3), 1000.0 + std::log(3.0), 1e-9);
    const std::vector<float> one = {-7.5f};
    CHECK_EQ(log_sum_exp(one.data(), 1), -7.5);
}

TEST_CASE("kl_divergence: zero for equal rows and shifted logits, the textbook value otherwise") {
    const std::vector<float> p = {0.3f, -1.2f, 2.0f, 0.0f};
    const double lp = log_sum_exp(p.data(), 4);
    CHECK_EQ(kl_divergence(p.data(), lp, p.data(), lp, 4), 0.0);
    // Adding a constant to every logit leaves the distribution unchanged.
    std::vector<float> shifted = p;
    for (float& x : shifted) x += 5.0f;
    CHECK_CLOSE(kl_divergence(p.data(), lp, shifted.data(), log_sum_exp(shifted.data(), 4), 4), 0.0, 1e-12);
    // P = (1/2, 1/2), Q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
    const std::vector<float> pp = {std::log(0.5f), std::log(0.5f)}, qq = {std::log(0.25f), std::log(0.75f)};
    const double want = 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0);
    CHECK_CLOSE(kl_divergence(pp.data(), log_sum_exp(pp.data(), 2), qq.data(), log_sum_exp(qq.data(), 2), 2), want, 1e-7);
    CHECK(kl_divergence(qq.data(), log_sum_exp(qq.data(), 2), pp.data(), log_sum_exp(pp.data(), 2), 2) > 0);
}

TEST_CASE("arg_max: the first of equal maxima") {
    const std::vector<float> r = {1.0f, 3.0f, -2.0f, 3.0f};
    CHECK_EQ(arg_max(r.data(), 4), int64_t(1));
    CHECK_EQ(arg_max(r.data(), 1), int64_t(0));
}

KVMIX_TEST_MAIN()
