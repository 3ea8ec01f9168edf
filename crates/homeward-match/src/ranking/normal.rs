//! The standard normal distribution, and the chance that the best of a
//! case's photos reaches a level when its photos are alike.
//!
//! A different child's photos are not independent draws: if one photo of
//! that child looks like the sighting, the others tend to as well (on the
//! development set the normal scores of two photos of the same impostor
//! case correlate at about 0.75). Treating them as independent
//! (`1 − (1 − p)ⁿ`) charges a family with many photos for chances it never
//! had. [`best_of`] uses the equicorrelated normal model instead: each
//! photo's normal score is `√ρ·s + √(1−ρ)·eᵢ`, with `s` shared by the case.

/// Standard normal cumulative distribution, accurate in both tails.
pub fn cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Inverse of [`cdf`] for `p` in (0, 1), by bisection (|error| < 1e-12).
pub fn quantile(p: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let (mut lo, mut hi) = (-40.0_f64, 9.0_f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Points of the shared-component grid (trapezoid over ±7 standard
/// deviations; the integrand is smooth, so this is far finer than needed).
const GRID: usize = 141;
const REACH: f64 = 7.0;

/// Chance that the best of `n` photos reaches a level each photo alone
/// reaches with chance `p`, when the photos' normal scores correlate at
/// `rho` (0: independent, `1 − (1 − p)ⁿ`; towards 1: `p`).
pub fn best_of(p: f64, n: usize, rho: f64) -> f64 {
    let p = p.clamp(0.0, 1.0);
    if n <= 1 || p <= 0.0 || p >= 1.0 {
        return p;
    }
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    if rho <= 0.0 {
        return 1.0 - (1.0 - p).powi(n);
    }
    let rho = rho.min(0.999);
    let u = quantile(p);
    let (a, b) = (rho.sqrt(), (1.0 - rho).sqrt());
    let step = 2.0 * REACH / (GRID - 1) as f64;
    let (mut none, mut total) = (0.0, 0.0);
    for i in 0..GRID {
        let s = -REACH + step * i as f64;
        let w = (-0.5 * s * s).exp();
        // Chance that no photo reaches the level, given the shared part.
        let miss = 1.0 - cdf((u - a * s) / b);
        none += w * miss.powi(n);
        total += w;
    }
    (1.0 - none / total).clamp(p, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_and_quantile_agree_with_known_values() {
        assert!((cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-12);
        assert!((cdf(-5.0) - 2.866_515_718_791_939e-7).abs() < 1e-18);
        for p in [1e-9, 1e-4, 0.01, 0.3, 0.5, 0.9] {
            assert!((cdf(quantile(p)) / p - 1.0).abs() < 1e-9, "{p}");
        }
    }

    #[test]
    fn best_of_spans_independence_to_one_photo() {
        let p = 0.01;
        assert_eq!(best_of(p, 1, 0.7), p);
        let independent = 1.0 - 0.99_f64.powi(5);
        assert!((best_of(p, 5, 0.0) - independent).abs() < 1e-15);
        // The same model with a tiny correlation is close to independence.
        assert!((best_of(p, 5, 1e-6) / independent - 1.0).abs() < 1e-3);
        let mut last = independent;
        for rho in [0.25, 0.5, 0.75, 0.95] {
            let r = best_of(p, 5, rho);
            assert!(r < last && r > p, "{rho}: {r}");
            last = r;
        }
        assert!(best_of(p, 5, 0.75) < best_of(p, 10, 0.75));
    }

    #[test]
    fn best_of_matches_a_simulation_of_alike_photos() {
        // Simulate the model with a deterministic generator: 5 photos at
        // correlation 0.75, level at the 2 % point of one photo.
        let mut seed = 3u64;
        let mut unit = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (rho, p, n, trials) = (0.75_f64, 0.02, 5, 200_000);
        let level = quantile(p);
        let mut hits = 0u32;
        for _ in 0..trials {
            let s = quantile(unit());
            let best = (0..n)
                .map(|_| rho.sqrt() * s + (1.0 - rho).sqrt() * quantile(unit()))
                .fold(f64::INFINITY, f64::min);
            hits += u32::from(best <= level);
        }
        let simulated = f64::from(hits) / f64::from(trials);
        let model = best_of(p, n, rho);
        let se = (model * (1.0 - model) / f64::from(trials)).sqrt();
        assert!((simulated - model).abs() < 4.0 * se, "{simulated} {model}");
    }
}
