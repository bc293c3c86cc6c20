//! Scoring a model on a labelled CSV (the Jigsaw toxic-comment format: `comment_text` and a
//! 0/1 `toxic` column): ROC-AUC, and precision / recall / F1 at the release threshold.

/// ROC-AUC by the rank-sum formula, ties sharing their average rank.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&label| label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&left, &right| scores[left].total_cmp(&scores[right]));
    let mut rank_sum = 0.0;
    let mut index = 0;
    while index < order.len() {
        let mut end = index;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[index]] {
            end += 1;
        }
        let average_rank = (index + end) as f64 / 2.0 + 1.0;
        for &item in &order[index..=end] {
            if labels[item] {
                rank_sum += average_rank;
            }
        }
        index = end + 1;
    }
    let positives = positives as f64;
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives as f64))
}

/// Precision, recall and F1 of `score > threshold` against `labels`.
pub fn precision_recall(scores: &[f32], labels: &[bool], threshold: f32) -> (f64, f64, f64) {
    let mut true_positive = 0usize;
    let mut false_positive = 0usize;
    let mut false_negative = 0usize;
    for (score, &label) in scores.iter().zip(labels) {
        match (*score > threshold, label) {
            (true, true) => true_positive += 1,
            (true, false) => false_positive += 1,
            (false, true) => false_negative += 1,
            (false, false) => {}
        }
    }
    let ratio = |numerator: usize, denominator: usize| {
        if denominator == 0 {
            0.0
        } else {
            numerator as f64 / denominator as f64
        }
    };
    let precision = ratio(true_positive, true_positive + false_positive);
    let recall = ratio(true_positive, true_positive + false_negative);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    (precision, recall, f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_ties_as_half() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // 3 of the 4 positive/negative pairs are ordered.
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        assert_eq!(roc_auc(&[0.1], &[true]), None);
    }

    #[test]
    fn precision_and_recall_use_a_strict_threshold() {
        let (precision, recall, f1) = precision_recall(&[0.05, 0.1, 0.2, 0.9], &[false, true, false, true], 0.1);
        assert_eq!((precision, recall), (0.5, 0.5));
        assert!((f1 - 0.5).abs() < 1e-12);
    }
}
