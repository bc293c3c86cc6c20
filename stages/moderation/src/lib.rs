//! The moderation source of DESIGN §6: `none`, or a client of an OpenAI-compatible
//! `/v1/moderations` endpoint whose answers fill a turn's `openai_moderation` (the 18 category
//! keys of DESIGN §7, slash and underscore forms) and feed the `toxic` flag and the
//! `sexual/minors` exclusion. Texts are moderated in batches, under a concurrency limit and a
//! requests-per-minute budget, with retries; answers are cached by text like toxicity scores.

pub mod cache;
pub mod client;
pub mod config;

use serde_json::{Map, Value};

pub use client::{ModerationClient, ModerationStats};
pub use config::{ModerationConfig, ModerationSource};

pub use shared::moderation::{ModerationAnswer as ModerationResult, CATEGORIES, SEXUAL_MINORS};

/// Reads one element of the response's `results`. The endpoint spells a category either way
/// (`self-harm/intent` today, `self_harm_intent` in older clients' models); both release keys
/// take whichever spelling it sent.
pub fn parse_result(result: &Value) -> Result<ModerationResult, String> {
    let object = result.as_object().ok_or("a result is not an object")?;
    let flagged = object
        .get("flagged")
        .and_then(Value::as_bool)
        .ok_or("a result has no boolean flagged")?;
    let categories = object
        .get("categories")
        .and_then(Value::as_object)
        .ok_or("a result has no categories object")?;
    let scores = object
        .get("category_scores")
        .and_then(Value::as_object)
        .ok_or("a result has no category_scores object")?;
    let mut parsed = ModerationResult {
        flagged,
        categories: [None; 18],
        category_scores: [None; 18],
    };
    for (index, key) in CATEGORIES.iter().enumerate() {
        parsed.categories[index] = lookup(categories, key).and_then(Value::as_bool);
        parsed.category_scores[index] = lookup(scores, key).and_then(Value::as_f64);
    }
    Ok(parsed)
}

/// `self-harm/intent`, `self_harm_intent` and `self-harm_intent` name one category.
fn normalise(key: &str) -> String {
    key.chars()
        .map(|character| {
            if character == '/' || character == '-' {
                '_'
            } else {
                character
            }
        })
        .collect()
}

fn lookup<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(value) = object.get(key) {
        return Some(value);
    }
    let wanted = normalise(key);
    object
        .iter()
        .find(|(name, _)| normalise(name) == wanted)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_spellings_of_a_category_take_the_endpoints_answer() {
        let result = json!({
            "flagged": true,
            "categories": {"sexual/minors": true, "self-harm/intent": false, "illicit": true},
            "category_scores": {"sexual/minors": 0.93, "self_harm_intent": 0.01}
        });
        let parsed = parse_result(&result).unwrap();
        let position = |key: &str| CATEGORIES.iter().position(|name| *name == key).unwrap();
        assert!(parsed.flagged);
        assert_eq!(parsed.categories[position("sexual/minors")], Some(true));
        assert_eq!(parsed.categories[position("sexual_minors")], Some(true));
        assert_eq!(parsed.category_scores[position("sexual_minors")], Some(0.93));
        assert_eq!(parsed.categories[position("self_harm_intent")], Some(false));
        assert_eq!(parsed.category_scores[position("self-harm/intent")], Some(0.01));
        // Not answered in either spelling: null, never invented.
        assert_eq!(parsed.categories[position("violence")], None);
        assert_eq!(parsed.category_scores[position("hate")], None);
        assert!(parsed.sexual_minors());
    }

    #[test]
    fn a_result_without_its_required_fields_is_an_error() {
        assert!(parse_result(&json!({"categories": {}, "category_scores": {}})).is_err());
        assert!(parse_result(&json!({"flagged": false, "category_scores": {}})).is_err());
        assert!(parse_result(&json!([1])).is_err());
    }
}
