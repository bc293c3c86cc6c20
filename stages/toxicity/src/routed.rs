//! A routed model: each turn goes to a model chosen by its language label (the pipeline's own,
//! computed before toxicity), and is flagged above that model's threshold. This is how an
//! English model that is good on English chat and a multilingual model that knows the other
//! languages combine without either judging text it was not trained for. Without labels
//! ([`ToxicityModel::score`]) every text goes to the fallback.

use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::{Device, ModelConfig, Routing};
use crate::{ScoreStats, Scores, ToxicityModel};

pub struct RoutedModel {
    id: String,
    name: String,
    /// Language labels and their model, in the config's order.
    routes: Vec<(Vec<String>, Arc<dyn ToxicityModel>)>,
    fallback: Arc<dyn ToxicityModel>,
}

/// The id a routed config's model has: its name and a digest of every route's languages and
/// model id, so that another route or model is another id (and another cache).
pub fn model_id(config: &ModelConfig, routing: &Routing) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for (languages, route) in &routing.routes {
        hasher.update(languages.join(",").as_bytes());
        hasher.update([0]);
        hasher.update(crate::model_id(route)?.as_bytes());
        hasher.update([0]);
    }
    hasher.update(b"*");
    hasher.update(crate::model_id(&routing.fallback)?.as_bytes());
    let digest = hex_prefix(&hasher.finalize());
    Ok(format!("routed:{}:{digest}", config.name))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|byte| format!("{byte:02x}")).collect()
}

impl RoutedModel {
    pub fn load(config: &ModelConfig, device: Device) -> anyhow::Result<RoutedModel> {
        let routing = config.routing.as_ref().context("a routed model needs routes")?;
        let mut routes = Vec::new();
        for (languages, route) in &routing.routes {
            let model = crate::load(route, device)
                .with_context(|| format!("loading the model for {}", languages.join(", ")))?;
            routes.push((languages.clone(), model));
        }
        let fallback = crate::load(&routing.fallback, device).context("loading the fallback model")?;
        Ok(RoutedModel {
            id: model_id(config, routing)?,
            name: config.name.clone(),
            routes,
            fallback,
        })
    }

    /// The position of `language`'s route, or None for the fallback.
    fn route_of(&self, language: Option<&str>) -> Option<usize> {
        let language = language?;
        self.routes
            .iter()
            .position(|(languages, _)| languages.iter().any(|name| name == language))
    }

    fn model(&self, route: Option<usize>) -> &Arc<dyn ToxicityModel> {
        route.map_or(&self.fallback, |index| &self.routes[index].1)
    }
}

impl ToxicityModel for RoutedModel {
    fn id(&self) -> &str {
        &self.id
    }

    /// The fallback's: what a text without a language label is flagged above.
    fn threshold(&self) -> f32 {
        self.fallback.threshold()
    }

    fn threshold_for(&self, language: Option<&str>) -> f32 {
        self.model(self.route_of(language)).threshold()
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .routes
            .iter()
            .map(|(languages, model)| format!("{} -> {}", languages.join(", "), model.describe()))
            .collect();
        parts.push(format!("other languages -> {}", self.fallback.describe()));
        format!("routed model {} ({})", self.name, parts.join("; "))
    }

    fn score(&self, texts: &[&str], stats: &mut ScoreStats) -> anyhow::Result<Vec<Scores>> {
        self.fallback.score(texts, stats)
    }

    fn score_labelled(
        &self,
        texts: &[&str],
        languages: &[Option<&str>],
        stats: &mut ScoreStats,
    ) -> anyhow::Result<Vec<Scores>> {
        anyhow::ensure!(texts.len() == languages.len(), "a language label per text is needed");
        let mut scores: Vec<Scores> = vec![[None; 7]; texts.len()];
        let routes: Vec<Option<usize>> = languages.iter().map(|language| self.route_of(*language)).collect();
        for route in std::iter::once(None).chain((0..self.routes.len()).map(Some)) {
            let members: Vec<usize> = (0..texts.len()).filter(|&index| routes[index] == route).collect();
            if members.is_empty() {
                continue;
            }
            let batch: Vec<&str> = members.iter().map(|&index| texts[index]).collect();
            let answered = self.model(route).score(&batch, stats)?;
            anyhow::ensure!(
                answered.len() == batch.len(),
                "a routed model answered the wrong number of texts"
            );
            for (index, answer) in members.into_iter().zip(answered) {
                scores[index] = answer;
            }
        }
        Ok(scores)
    }
}
