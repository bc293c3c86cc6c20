//! A turn's moderation answer (DESIGN §7, an element of `openai_moderation`), defined once: the
//! moderation stage fills it, the release record writes it, the finalise job's `sexual/minors`
//! filter reads it.

use serde::{Deserialize, Serialize};

/// The 18 category keys of the WildChat-1M card in its order (DESIGN §7).
pub const CATEGORIES: [&str; 18] = [
    "harassment",
    "harassment/threatening",
    "harassment_threatening",
    "hate",
    "hate/threatening",
    "hate_threatening",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "self_harm",
    "self_harm_instructions",
    "self_harm_intent",
    "sexual",
    "sexual/minors",
    "sexual_minors",
    "violence",
    "violence/graphic",
    "violence_graphic",
];

/// The position of `sexual/minors` in [`CATEGORIES`]; `sexual_minors` follows it.
pub const SEXUAL_MINORS: usize = 13;

/// One text's moderation answer, by [`CATEGORIES`] position. A key the source did not answer
/// (in either spelling) is None: never invented.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModerationAnswer {
    pub flagged: bool,
    pub categories: [Option<bool>; 18],
    pub category_scores: [Option<f64>; 18],
}

impl ModerationAnswer {
    /// Whether the source flagged the text as sexual content involving minors (either
    /// spelling), the category that excludes a conversation from every release variant.
    pub fn sexual_minors(&self) -> bool {
        self.categories[SEXUAL_MINORS] == Some(true) || self.categories[SEXUAL_MINORS + 1] == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sexual_minors_positions_name_both_spellings() {
        assert_eq!(CATEGORIES[SEXUAL_MINORS], "sexual/minors");
        assert_eq!(CATEGORIES[SEXUAL_MINORS + 1], "sexual_minors");
        let mut answer = ModerationAnswer {
            flagged: true,
            categories: [Some(false); 18],
            category_scores: [None; 18],
        };
        assert!(!answer.sexual_minors());
        answer.categories[SEXUAL_MINORS + 1] = Some(true);
        assert!(answer.sexual_minors());
    }
}
