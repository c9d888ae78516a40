//! Metrics of pointwise predictions: probabilities against 0/1 labels (pointwise rankers,
//! calibration, decisions at a threshold) and ratings against ratings (RMSE, MAE).

/// Mean log loss of probabilities `p` against labels `y`, probabilities clipped to
/// `[1e-7, 1 − 1e-7]`.
pub fn log_loss(p: &[f32], y: &[f32]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    let eps = 1e-7f64;
    p.iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(eps, 1.0 - eps);
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / p.len() as f64
}

/// Area under the ROC curve of scores `p` for labels `y` (ties count one half); `None` when
/// one class is absent.
pub fn auc(p: &[f32], y: &[f32]) -> Option<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut rank_sum, mut n_pos) = (0.0f64, 0usize);
    let mut i = 0;
    while i < order.len() {
        // average rank over a run of equal scores
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if y[k] > 0.5 {
                rank_sum += avg;
                n_pos += 1;
            }
        }
        i = j + 1;
    }
    let n_neg = p.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    Some((rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64))
}

/// Expected calibration error: examples binned by predicted probability into `bins` equal
/// bins, the mean over bins of `|mean prediction − positive rate|` weighted by the bin's share.
pub fn calibration_error(p: &[f32], y: &[f32], bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    let mut n = vec![0usize; bins];
    for (&p, &y) in p.iter().zip(y) {
        let b = ((p as f64 * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p as f64;
        sum_y[b] += y as f64;
        n[b] += 1;
    }
    let total = p.len().max(1) as f64;
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| (sum_p[b] - sum_y[b]).abs() / total)
        .sum()
}

/// Accuracy, precision, recall and F1 of the decisions `p ≥ threshold` against 0/1 labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decisions {
    /// Share of correct decisions.
    pub accuracy: f64,
    /// Positives among the predicted positives (0 when nothing is predicted positive).
    pub precision: f64,
    /// Predicted positives among the positives (0 when there is no positive).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// [`Decisions`] at `threshold`.
pub fn decisions(p: &[f32], y: &[f32], threshold: f32) -> Decisions {
    let (mut tp, mut fp, mut tn, mut fn_) = (0usize, 0usize, 0usize, 0usize);
    for (&p, &y) in p.iter().zip(y) {
        match (p >= threshold, y > 0.5) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Decisions {
        accuracy: ratio(tp + tn, tp + fp + tn + fn_),
        precision,
        recall,
        f1,
    }
}

/// Root mean squared error of predictions `p` against targets `y` (0 when empty).
pub fn rmse(p: &[f32], y: &[f32]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    (p.iter()
        .zip(y)
        .map(|(&p, &y)| ((p - y) as f64).powi(2))
        .sum::<f64>()
        / p.len() as f64)
        .sqrt()
}

/// Mean absolute error of predictions `p` against targets `y` (0 when empty).
pub fn mae(p: &[f32], y: &[f32]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    p.iter()
        .zip(y)
        .map(|(&p, &y)| ((p - y) as f64).abs())
        .sum::<f64>()
        / p.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_and_errors_by_hand() {
        // predictions ≥ 0.5: items 0, 1, 3; labels: 0, 2, 3 positive
        let p = [0.9, 0.6, 0.2, 0.5, 0.1];
        let y = [1.0, 0.0, 1.0, 1.0, 0.0];
        let d = decisions(&p, &y, 0.5);
        assert!((d.accuracy - 3.0 / 5.0).abs() < 1e-12);
        assert!((d.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((d.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((d.f1 - 2.0 / 3.0).abs() < 1e-12);
        let none = decisions(&[0.1, 0.2], &[0.0, 0.0], 0.5);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
        assert_eq!(none.accuracy, 1.0);
        assert!((rmse(&[3.0, 5.0], &[4.0, 4.0]) - 1.0).abs() < 1e-12);
        assert!((rmse(&[3.0, 4.0], &[4.0, 4.0]) - (0.5f64).sqrt()).abs() < 1e-12);
        assert!((mae(&[3.0, 4.5], &[4.0, 4.0]) - 0.75).abs() < 1e-12);
        assert_eq!(rmse(&[], &[]), 0.0);
    }

    #[test]
    fn auc_and_loss_by_hand() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.6], &[1.0, 1.0]), None);
        let l = log_loss(&[0.5, 0.5], &[0.0, 1.0]);
        assert!((l - std::f64::consts::LN_2).abs() < 1e-9);
        // perfectly calibrated bins; then everything predicted 0.9 with a 0.5 positive rate
        assert!(calibration_error(&[0.25, 0.25, 0.25, 0.25], &[0.0, 0.0, 0.0, 1.0], 10) < 1e-9);
        let e = calibration_error(&[0.9, 0.9], &[0.0, 1.0], 10);
        assert!((e - 0.4).abs() < 1e-6, "{e}");
    }

    /// Probabilities drawn as Bernoulli labels of their own value are calibrated: the error
    /// shrinks towards 0 with more samples; shifting them all by 0.2 shows up as about 0.2.
    #[test]
    fn calibration_on_synthetic_known_probabilities() {
        // a deterministic low-discrepancy stream instead of an RNG dependency
        let n = 20_000;
        let (mut p, mut y) = (Vec::new(), Vec::new());
        for k in 0..n {
            let q = ((k as f64 * 0.618_033_988_75) % 1.0) as f32;
            let u = ((k as f64 * 0.754_877_666_2) % 1.0) as f32;
            p.push(q);
            y.push(if u < q { 1.0 } else { 0.0 });
        }
        let e = calibration_error(&p, &y, 10);
        assert!(e < 0.02, "{e}");
        let shifted: Vec<f32> = p.iter().map(|&q| (q * 0.6 + 0.4).min(1.0)).collect();
        let e2 = calibration_error(&shifted, &y, 10);
        assert!(e2 > 0.1, "{e2}");
    }
}
