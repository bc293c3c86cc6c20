//! The toxicity stage on JSON lines (DESIGN §9): each input line is `{"text": ...}` (with the
//! pipeline's `"language"` label for a routed model); each
//! output line is the input plus `scores` (Detoxify's keys, null where the model has no such
//! label, all null for an empty text) and `toxic`. Lines are scored in batches; a bad line is reported with its number and
//! counted, and never stops the rest.

use std::io::{BufRead, Write};

use anyhow::Context;
use serde_json::{json, Map, Value};

use crate::{is_toxic, ScoreStats, Scores, ToxicityModel, DETOXIFY_KEYS};

/// Lines scored per model call.
const BATCH: usize = 4096;

/// Scores as a JSON object keyed by Detoxify's names.
pub fn scores_json(scores: &Scores) -> Value {
    Value::Object(
        DETOXIFY_KEYS
            .iter()
            .zip(scores)
            .map(|(key, score)| (key.to_string(), score.map_or(Value::Null, |score| json!(score))))
            .collect(),
    )
}

/// A line's `language` label.
fn language_of(object: &Map<String, Value>) -> Option<&str> {
    object.get("language").and_then(Value::as_str)
}

/// Annotates every line of `input` onto `output`; returns the number of lines that failed
/// (each reported on stderr with its line number).
pub fn annotate_lines(model: &dyn ToxicityModel, input: impl BufRead, mut output: impl Write) -> anyhow::Result<u64> {
    let mut failed = 0;
    let mut pending: Vec<(Map<String, Value>, String)> = Vec::new();
    let flush = |pending: &mut Vec<(Map<String, Value>, String)>, output: &mut dyn Write| -> anyhow::Result<()> {
        // Empty texts are not scored (null scores, as the pipeline stores them).
        let scored: Vec<usize> = (0..pending.len())
            .filter(|&index| !pending[index].1.is_empty())
            .collect();
        let texts: Vec<&str> = scored.iter().map(|&index| pending[index].1.as_str()).collect();
        // A routed model needs the pipeline's language label (`language`); without one a text
        // goes to its fallback model.
        let languages: Vec<Option<&str>> = scored.iter().map(|&index| language_of(&pending[index].0)).collect();
        let answers = model.score_labelled(&texts, &languages, &mut ScoreStats::default())?;
        let mut scores: Vec<Scores> = vec![[None; 7]; pending.len()];
        for (index, answer) in scored.into_iter().zip(answers) {
            scores[index] = answer;
        }
        let thresholds: Vec<f32> = pending
            .iter()
            .map(|(object, _)| model.threshold_for(language_of(object)))
            .collect();
        for (((mut object, text), scores), threshold) in pending.drain(..).zip(scores).zip(thresholds) {
            object.insert("scores".into(), scores_json(&scores));
            object.insert("toxic".into(), Value::Bool(is_toxic(&text, &scores, false, threshold)));
            serde_json::to_writer(&mut *output, &Value::Object(object))?;
            output.write_all(b"\n")?;
        }
        Ok(())
    };
    for (index, line) in input.lines().enumerate() {
        let line = line.context("reading the input")?;
        if line.trim().is_empty() {
            continue;
        }
        let reason = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(object)) => match object.get("text") {
                Some(Value::String(text)) => {
                    let text = text.clone();
                    pending.push((object, text));
                    None
                }
                _ => Some("missing string field text".to_string()),
            },
            Ok(_) => Some("line is not a json object".to_string()),
            Err(error) => Some(format!("invalid json: {error}")),
        };
        if let Some(reason) = reason {
            failed += 1;
            eprintln!("stdin line {}: {reason}", index + 1);
        }
        if pending.len() >= BATCH {
            flush(&mut pending, &mut output)?;
        }
    }
    flush(&mut pending, &mut output)?;
    output.flush()?;
    Ok(failed)
}
