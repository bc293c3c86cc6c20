//! The explorer's pages, rendered on the server. Values from the data go through
//! [`html::untrusted`] or [`html::attr`]; nothing from a conversation becomes a link target, a
//! tag or a script.

use std::fmt::Write;
use std::ops::Range;

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::{flag, tally, Catalog, Entry, Filter, Sort};
use crate::html::{self, attr, marked, page, text, untrusted};
use crate::search::{self, Snippet};
use crate::Loaded;

/// Conversations per result page.
pub const PAGE_SIZE: usize = 50;
/// Hashes listed per section of the compare page.
const COMPARE_LISTED: usize = 100;

/// The browse and search parameters, as the form sends them (every one optional; empty means
/// "no filter").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Params {
    pub language: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub model: Option<String>,
    /// `hashed_ip`.
    pub ip: Option<String>,
    /// `true`, `false` or `none`.
    pub toxic: Option<String>,
    pub redacted: Option<String>,
    pub min_turns: Option<String>,
    pub max_turns: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC), included.
    pub to: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    /// 1-based.
    pub page: Option<String>,
}

fn value(option: &Option<String>) -> &str {
    option.as_deref().map_or("", str::trim)
}

impl Params {
    /// The parameters as link query pairs (empty ones dropped by [`html::query`]).
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("q", value(&self.q)),
            ("language", value(&self.language)),
            ("country", value(&self.country)),
            ("state", value(&self.state)),
            ("model", value(&self.model)),
            ("ip", value(&self.ip)),
            ("toxic", value(&self.toxic)),
            ("redacted", value(&self.redacted)),
            ("min_turns", value(&self.min_turns)),
            ("max_turns", value(&self.max_turns)),
            ("from", value(&self.from)),
            ("to", value(&self.to)),
            ("sort", value(&self.sort)),
        ]
    }

    /// The filters against `catalog`'s dictionaries, or what is wrong with a value.
    pub fn filter(&self, catalog: &Catalog) -> Result<Filter, String> {
        let dims = &catalog.dims;
        let pick = |option: &Option<String>, dict: &crate::catalog::Dict| {
            let value = value(option);
            (!value.is_empty()).then(|| dict.lookup(value))
        };
        let flag_of = |name: &str, option: &Option<String>| -> Result<Option<u8>, String> {
            match value(option) {
                "" => Ok(None),
                "true" | "yes" => Ok(Some(flag(Some(true)))),
                "false" | "no" => Ok(Some(flag(Some(false)))),
                "none" => Ok(Some(flag(None))),
                other => Err(format!("{name} must be true, false or none, not {other:?}")),
            }
        };
        let number = |name: &str, option: &Option<String>| -> Result<Option<i64>, String> {
            match value(option) {
                "" => Ok(None),
                text => text
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("{name} must be a whole number, not {text:?}")),
            }
        };
        let day = |name: &str, option: &Option<String>, next: bool| -> Result<Option<i64>, String> {
            match value(option) {
                "" => Ok(None),
                text => {
                    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| format!("{name} must be a date YYYY-MM-DD, not {text:?}"))?;
                    let date = if next { date.succ_opt().unwrap_or(date) } else { date };
                    let start = date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
                    Ok(Some(start.timestamp_micros()))
                }
            }
        };
        Ok(Filter {
            language: pick(&self.language, &dims.language),
            country: pick(&self.country, &dims.country),
            state: pick(&self.state, &dims.state),
            model: pick(&self.model, &dims.model),
            hashed_ip: pick(&self.ip, &dims.hashed_ip),
            toxic: flag_of("toxic", &self.toxic)?,
            redacted: flag_of("redacted", &self.redacted)?,
            min_turns: number("min_turns", &self.min_turns)?,
            max_turns: number("max_turns", &self.max_turns)?,
            from_us: day("from", &self.from, false)?,
            to_us: day("to", &self.to, true)?,
        })
    }

    fn page_number(&self) -> usize {
        value(&self.page).parse::<usize>().unwrap_or(1).max(1)
    }
}

/// One page of a browse or search.
pub struct Results {
    pub total: usize,
    pub page: usize,
    pub rows: Vec<(u32, Option<Snippet>)>,
    pub by_language: Vec<(String, u64)>,
    pub by_model: Vec<(String, u64)>,
}

/// Runs a browse (and a search when `q` is given) over a loaded version. Blocking.
pub fn results(loaded: &Loaded, params: &Params) -> Result<Results, String> {
    let catalog = &loaded.catalog;
    let filter = params.filter(catalog)?;
    let query = value(&params.q);
    // Walk the precomputed order and keep what passes: no sort per request.
    let order = catalog.order(Sort::parse(value(&params.sort)));
    let (ordinals, hits): (Vec<u32>, _) = if query.is_empty() {
        let ordinals = order
            .iter()
            .copied()
            .filter(|ordinal| filter.matches(&catalog.entries[*ordinal as usize]))
            .collect();
        (ordinals, None)
    } else {
        let index = loaded
            .index
            .as_ref()
            .ok_or_else(|| "this version was opened without its search index".to_string())?;
        let hits = index.search(query).map_err(|error| format!("{error:#}"))?;
        let mut hit = vec![false; catalog.len()];
        for ordinal in &hits.hits {
            if let Some(slot) = hit.get_mut(*ordinal as usize) {
                *slot = true;
            }
        }
        let ordinals = order
            .iter()
            .copied()
            .filter(|ordinal| hit[*ordinal as usize] && filter.matches(&catalog.entries[*ordinal as usize]))
            .collect();
        (ordinals, Some(hits))
    };
    let total = ordinals.len();
    let page = params.page_number();
    let start = ((page - 1) * PAGE_SIZE).min(total);
    let shown = &ordinals[start..(start + PAGE_SIZE).min(total)];
    let snippets: Vec<Option<Snippet>> = match (&hits, &loaded.index) {
        (Some(hits), Some(index)) => {
            let snippets = index.snippets(hits, shown).map_err(|error| format!("{error:#}"))?;
            snippets.into_iter().map(Some).collect()
        }
        _ => shown.iter().map(|_| None).collect(),
    };
    let top = |pick: fn(&Entry) -> u32, dict: &crate::catalog::Dict| {
        let entries = ordinals.iter().map(|ordinal| &catalog.entries[*ordinal as usize]);
        let mut named = tally(entries, pick, dict);
        named.truncate(8);
        named
    };
    Ok(Results {
        total,
        page,
        rows: shown.iter().copied().zip(snippets).collect(),
        by_language: top(|entry| entry.language, &catalog.dims.language),
        by_model: top(|entry| entry.model, &catalog.dims.model),
    })
}

fn options(selected: &str, values: &[(String, u64)]) -> String {
    let mut out = String::from("<option value=\"\">any</option>");
    for (name, count) in values {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{} ({count})</option>",
            attr(name),
            if name == selected { " selected" } else { "" },
            untrusted(name)
        );
    }
    out
}

fn choice(selected: &str, choices: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (value, label) in choices {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{label}</option>",
            if *value == selected { " selected" } else { "" }
        );
    }
    out
}

/// Dropdown values of the whole version, computed once.
pub struct Facets {
    pub languages: Vec<(String, u64)>,
    pub countries: Vec<(String, u64)>,
    pub states: Vec<(String, u64)>,
    pub models: Vec<(String, u64)>,
}

impl Facets {
    pub fn of(catalog: &Catalog) -> Facets {
        let mut states = catalog.counts(|entry| entry.state, &catalog.dims.state);
        states.truncate(500);
        Facets {
            languages: catalog.counts(|entry| entry.language, &catalog.dims.language),
            countries: catalog.counts(|entry| entry.country, &catalog.dims.country),
            states,
            models: catalog.counts(|entry| entry.model, &catalog.dims.model),
        }
    }
}

fn yes_no(value: u8) -> &'static str {
    match value {
        2 => "yes",
        1 => "no",
        _ => "–",
    }
}

fn day_of(timestamp_us: i64) -> String {
    if timestamp_us == i64::MIN {
        return "–".to_string();
    }
    chrono::DateTime::from_timestamp_micros(timestamp_us)
        .map(|time| time.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "–".to_string())
}

/// The browse and search page.
pub fn results_page(
    loaded: &Loaded,
    facets: &Facets,
    params: &Params,
    outcome: Result<Results, String>,
    search_page: bool,
) -> String {
    let catalog = &loaded.catalog;
    let mut body = String::new();
    let title = if search_page { "Search" } else { "Browse" };
    let action = if search_page { "/search" } else { "/browse" };
    let _ = write!(
        body,
        "<h1>{title}</h1><form method=\"get\" action=\"{action}\" class=\"filters\">\
<label class=\"wide\">text <input type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"words, or &quot;a phrase&quot;\"{autofocus}></label>\
<label>language <select name=\"language\">{languages}</select></label>\
<label>country <select name=\"country\">{countries}</select></label>\
<label>state <select name=\"state\">{states}</select></label>\
<label>model <select name=\"model\">{models}</select></label>\
<label>toxic <select name=\"toxic\">{toxic}</select></label>\
<label>redacted <select name=\"redacted\">{redacted}</select></label>\
<label>turns from <input type=\"number\" name=\"min_turns\" min=\"0\" value=\"{min_turns}\"></label>\
<label>to <input type=\"number\" name=\"max_turns\" min=\"0\" value=\"{max_turns}\"></label>\
<label>from <input type=\"date\" name=\"from\" value=\"{from}\"></label>\
<label>to <input type=\"date\" name=\"to\" value=\"{to}\"></label>\
<label>hashed IP <input type=\"text\" name=\"ip\" value=\"{ip}\" size=\"20\"></label>\
<label>sort <select name=\"sort\">{sort}</select></label>\
<button type=\"submit\">apply</button> <a href=\"{action}\">clear</a></form>",
        q = attr(value(&params.q)),
        autofocus = if search_page { " autofocus" } else { "" },
        languages = options(value(&params.language), &facets.languages),
        countries = options(value(&params.country), &facets.countries),
        states = options(value(&params.state), &facets.states),
        models = options(value(&params.model), &facets.models),
        toxic = choice(value(&params.toxic), &[("", "any"), ("true", "yes"), ("false", "no"), ("none", "unknown")]),
        redacted = choice(value(&params.redacted), &[("", "any"), ("true", "yes"), ("false", "no"), ("none", "unknown")]),
        min_turns = attr(value(&params.min_turns)),
        max_turns = attr(value(&params.max_turns)),
        from = attr(value(&params.from)),
        to = attr(value(&params.to)),
        ip = attr(value(&params.ip)),
        sort = choice(
            Sort::parse(value(&params.sort)).name(),
            &[("newest", "newest first"), ("oldest", "oldest first"), ("turns", "most turns")]
        ),
    );
    let results = match outcome {
        Ok(results) => results,
        Err(message) => {
            let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", untrusted(&message));
            return page(title, loaded.version(), &loaded.variant, &body);
        }
    };
    let _ = write!(
        body,
        "<p class=\"count\"><span id=\"match-count\" data-count=\"{total}\">{total}</span> of {all} conversations match.",
        total = results.total,
        all = catalog.len()
    );
    for (label, counts) in [("languages", &results.by_language), ("models", &results.by_model)] {
        if !counts.is_empty() && results.total > 0 {
            let listed: Vec<String> = counts
                .iter()
                .map(|(name, count)| format!("{} {count}", untrusted(name)))
                .collect();
            let _ = write!(body, " <span class=\"facet\">{label}: {}</span>", listed.join(", "));
        }
    }
    body.push_str("</p>");
    body.push_str(
        "<table class=\"results\"><thead><tr><th title=\"takedown basket\">⊕</th><th>conversation</th><th>time</th>\
<th>language</th><th>country / state</th><th>model</th><th>turns</th><th>toxic</th><th>redacted</th><th>first prompt</th></tr></thead><tbody>",
    );
    let query = value(&params.q);
    for (ordinal, snippet) in &results.rows {
        let entry = &catalog.entries[*ordinal as usize];
        let hash = &catalog.hashes[*ordinal as usize];
        let href = format!("/conversation/{}{}", attr(hash), attr(&html::query(&[("q", query)])));
        let text_cell = match snippet {
            Some(snippet) => {
                let marks: Vec<(Range<usize>, &'static str)> =
                    snippet.highlighted.iter().map(|range| (range.clone(), "hit")).collect();
                format!("<span class=\"snippet\">{}</span>", marked(&snippet.text, &marks))
            }
            None => untrusted(&catalog.previews[*ordinal as usize]),
        };
        let _ = write!(
            body,
            "<tr class=\"{toxic_class}\"><td><input type=\"checkbox\" class=\"basket\" data-hash=\"{hash_attr}\" aria-label=\"add to the takedown basket\"></td>\
<td><a href=\"{href}\"><code>{hash_short}</code></a></td><td>{time}</td><td>{language}</td><td>{country} / {state}</td>\
<td>{model}</td><td>{turns}</td><td>{toxic}</td><td>{redacted}</td><td class=\"text\"><bdi>{text_cell}</bdi></td></tr>",
            toxic_class = if entry.toxic == 2 { "toxic" } else { "" },
            hash_attr = attr(hash),
            hash_short = untrusted(hash.get(..12).unwrap_or(hash)),
            time = day_of(entry.timestamp_us),
            language = untrusted(catalog.dims.language.name(entry.language)),
            country = untrusted(catalog.dims.country.name(entry.country)),
            state = untrusted(catalog.dims.state.name(entry.state)),
            model = untrusted(catalog.dims.model.name(entry.model)),
            turns = entry.turns,
            toxic = yes_no(entry.toxic),
            redacted = yes_no(entry.redacted),
        );
    }
    body.push_str("</tbody></table>");
    let pages = results.total.div_ceil(PAGE_SIZE).max(1);
    let _ = write!(body, "<nav class=\"pages\">page {} of {pages} ", results.page);
    for (label, target) in [("prev", results.page.saturating_sub(1)), ("next", results.page + 1)] {
        if target >= 1 && target <= pages && target != results.page {
            let number = target.to_string();
            let mut pairs = params.pairs();
            pairs.push(("page", number.as_str()));
            let _ = write!(
                body,
                " <a rel=\"{label}\" href=\"{action}{}\">{label}</a>",
                attr(&html::query(&pairs))
            );
        }
    }
    body.push_str("</nav>");
    page(title, loaded.version(), &loaded.variant, &body)
}

/// Placeholders the PII policies write (`<PRESIDIO_ANONYMIZED_PERSON>`,
/// `<SECRET_REDACTED_...>`, `<EMAIL_ADDRESS:0123456789abcdef>`), as byte ranges.
pub fn placeholder_ranges(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&byte| byte == b'<') {
        let start = at + offset;
        let mut end = start + 1;
        while end < bytes.len() && (bytes[end].is_ascii_uppercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name_len = end - start - 1;
        if name_len >= 3 && end < bytes.len() && bytes[end] == b':' {
            let digits = bytes[end + 1..]
                .iter()
                .take_while(|byte| byte.is_ascii_hexdigit())
                .count();
            end += 1 + digits;
            if digits != 16 {
                at = start + 1;
                continue;
            }
        }
        if name_len >= 3 && end < bytes.len() && bytes[end] == b'>' {
            ranges.push(start..end + 1);
            at = end + 1;
        } else {
            at = start + 1;
        }
    }
    ranges
}

fn field<'a>(value: &'a Value, name: &str) -> &'a Value {
    value.get(name).unwrap_or(&Value::Null)
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "–".to_string(),
        Value::Bool(true) => "yes".to_string(),
        Value::Bool(false) => "no".to_string(),
        Value::String(text) => untrusted(text),
        other => untrusted(&other.to_string()),
    }
}

/// A conversation: the header, then every turn with its labels, redaction placeholders and
/// the searched words marked.
pub fn conversation_page(loaded: &Loaded, ordinal: u32, row: &Value, query: &str, served_version: &str) -> String {
    let catalog = &loaded.catalog;
    let hash = &catalog.hashes[ordinal as usize];
    let words = search::query_words(query);
    let mut body = String::new();
    if loaded.version() != served_version {
        let _ = write!(
            body,
            "<p class=\"note\">This conversation is shown from version {}, compared against.</p>",
            text(loaded.version())
        );
    }
    let _ = write!(
        body,
        "<h1>Conversation <code>{}</code></h1>\
<p><label><input type=\"checkbox\" class=\"basket\" data-hash=\"{}\"> in the takedown basket</label></p><dl class=\"header\">",
        untrusted(hash),
        attr(hash)
    );
    for (label, name) in [
        ("model", "model"),
        ("time", "timestamp"),
        ("turns", "turn"),
        ("language", "language"),
        ("toxic", "toxic"),
        ("redacted", "redacted"),
        ("country", "country"),
        ("state", "state"),
        ("hashed IP", "hashed_ip"),
    ] {
        let _ = write!(body, "<dt>{label}</dt><dd>{}</dd>", shown(field(row, name)));
    }
    let header = field(row, "header");
    for name in ["user-agent", "accept-language"] {
        let _ = write!(body, "<dt>{name}</dt><dd>{}</dd>", shown(field(header, name)));
    }
    body.push_str("</dl>");
    let empty = Vec::new();
    let turns = field(row, "conversation").as_array().unwrap_or(&empty);
    let moderation = field(row, "openai_moderation").as_array().unwrap_or(&empty);
    let detoxify = field(row, "detoxify_moderation").as_array().unwrap_or(&empty);
    for (index, turn) in turns.iter().enumerate() {
        let role = field(turn, "role").as_str().unwrap_or("unknown");
        let toxic = field(turn, "toxic").as_bool() == Some(true);
        let content = field(turn, "content").as_str().unwrap_or("");
        let mut marks: Vec<(Range<usize>, &'static str)> = placeholder_ranges(content)
            .into_iter()
            .map(|range| (range, "redaction"))
            .collect();
        marks.extend(
            search::word_ranges(content, &words)
                .into_iter()
                .map(|range| (range, "hit")),
        );
        marks.sort_by_key(|(range, _)| range.start);
        let _ = write!(
            body,
            "<section class=\"turn {role_class}{toxic_class}\"><h2>{number}. {role} <small>{time} · {language} · toxic {toxic_text} · redacted {redacted}</small></h2>",
            role_class = if role == "user" { "user" } else { "assistant" },
            toxic_class = if toxic { " toxic" } else { "" },
            number = index + 1,
            role = untrusted(role),
            time = shown(field(turn, "timestamp")),
            language = shown(field(turn, "language")),
            toxic_text = shown(field(turn, "toxic")),
            redacted = shown(field(turn, "redacted")),
        );
        if let Some(scores) = moderation.get(index).filter(|value| !value.is_null()) {
            let categories = field(scores, "categories");
            let flagged: Vec<&str> = categories
                .as_object()
                .map(|object| {
                    object
                        .iter()
                        .filter(|(_, value)| value.as_bool() == Some(true))
                        .map(|(name, _)| name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let _ = write!(
                body,
                "<p class=\"moderation\">moderation: flagged {}{}</p>",
                shown(field(scores, "flagged")),
                if flagged.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", untrusted(&flagged.join(", ")))
                }
            );
        }
        if let Some(scores) = detoxify.get(index).and_then(Value::as_object) {
            let listed: Vec<String> = scores
                .iter()
                .filter_map(|(name, value)| Some(format!("{} {:.3}", untrusted(name), value.as_f64()?)))
                .collect();
            if !listed.is_empty() {
                let _ = write!(body, "<p class=\"scores\">toxicity scores: {}</p>", listed.join(", "));
            }
        }
        let _ = write!(
            body,
            "<div class=\"content\" dir=\"auto\">{}</div></section>",
            marked(content, &marks)
        );
    }
    page("Conversation", served_version, &loaded.variant, &body)
}

/// Overview facts gathered by the server (channels need the store).
pub struct Overview {
    /// Every channel: name, version, revision.
    pub channels: Vec<(String, Option<String>, u64)>,
}

fn json_table(value: &Value) -> String {
    let mut out = String::from("<table class=\"facts\">");
    if let Some(object) = value.as_object() {
        for (name, item) in object {
            let shown = match item {
                Value::String(text) => untrusted(text),
                other => untrusted(&other.to_string()),
            };
            let _ = write!(
                out,
                "<tr><th>{}</th><td><code>{shown}</code></td></tr>",
                untrusted(name)
            );
        }
    }
    out.push_str("</table>");
    out
}

/// The overview: the manifest's facts, the statistics of the served variant with the card's
/// charts, and the channels that point at this version.
pub fn overview_page(loaded: &Loaded, overview: &Overview) -> String {
    let manifest = &loaded.manifest;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Release {}</h1><table class=\"facts\">\
<tr><th>created</th><td>{}</td></tr><tr><th>parent</th><td>{}</td></tr><tr><th>run</th><td>{}</td></tr>\
<tr><th>code</th><td>{}</td></tr><tr><th>format</th><td>{}</td></tr><tr><th>inputs</th><td>{} objects, sha256 <code>{}</code></td></tr>",
        untrusted(&manifest.version),
        untrusted(&manifest.created_at),
        untrusted(manifest.parent.as_deref().unwrap_or("–")),
        untrusted(&manifest.run_id),
        untrusted(&manifest.code_version),
        untrusted(&manifest.format),
        manifest.inputs.len(),
        untrusted(&manifest.inputs_sha256),
    );
    for (name, variant) in &manifest.variants {
        let _ = write!(
            body,
            "<tr><th>variant {}</th><td>{} conversations in {} shards, {} bytes{}</td></tr>",
            untrusted(name),
            variant.rows,
            variant.shards.len(),
            variant.shards.iter().map(|shard| shard.bytes).sum::<u64>(),
            if *name == loaded.variant { " (served here)" } else { "" }
        );
    }
    body.push_str("</table>");
    let pointing: Vec<String> = overview
        .channels
        .iter()
        .filter(|(_, version, _)| version.as_deref() == Some(manifest.version.as_str()))
        .map(|(name, _, revision)| format!("<strong>{}</strong> (revision {revision})", untrusted(name)))
        .collect();
    let _ = write!(
        body,
        "<h2>Channels</h2><p>Pointing at this version: {}.</p><ul class=\"channels\">",
        if pointing.is_empty() {
            "none".to_string()
        } else {
            pointing.join(", ")
        }
    );
    for (name, version, revision) in &overview.channels {
        let _ = write!(
            body,
            "<li>{} → {} (revision {revision})</li>",
            untrusted(name),
            untrusted(version.as_deref().unwrap_or("–"))
        );
    }
    body.push_str("</ul>");
    if let Some(stats) = manifest.statistics.get(&loaded.variant) {
        let number = |name: &str| {
            stats
                .get(name)
                .map(|value| untrusted(&value.to_string()))
                .unwrap_or_else(|| "–".into())
        };
        let nested = |outer: &str, inner: &str| {
            stats
                .get(outer)
                .and_then(|value| value.get(inner))
                .map(|value| untrusted(&value.to_string()))
                .unwrap_or_else(|| "–".into())
        };
        let _ = write!(
            body,
            "<h2>Statistics ({variant})</h2><table class=\"facts\">\
<tr><th>conversations</th><td>{}</td></tr><tr><th>turns</th><td>{}</td></tr><tr><th>users (hashed IPs)</th><td>{}</td></tr>\
<tr><th>mean turns per conversation</th><td>{}</td></tr><tr><th>first / last</th><td>{} / {}</td></tr>\
<tr><th>toxic conversations</th><td>{} ({} %)</td></tr><tr><th>redacted conversations</th><td>{} ({} %)</td></tr></table>",
            number("conversations"),
            number("turns"),
            number("users"),
            number("mean_turns_per_conversation"),
            number("first_timestamp"),
            number("last_timestamp"),
            nested("toxicity", "conversations"),
            nested("toxicity", "conversations_percent"),
            nested("redaction", "conversations"),
            nested("redaction", "conversations_percent"),
            variant = text(&loaded.variant),
        );
    }
    body.push_str(
        "<div class=\"charts\"><img src=\"/chart/languages.svg\" alt=\"conversations per language\">\
<img src=\"/chart/countries.svg\" alt=\"conversations per country\"><img src=\"/chart/turns.svg\" alt=\"conversations per number of turns\"></div>",
    );
    if let Some(fingerprint) = &manifest.fingerprint {
        let value = serde_json::to_value(fingerprint).unwrap_or(Value::Null);
        let _ = write!(body, "<h2>Run fingerprint</h2>{}", json_table(&value));
    }
    if let Some(amendment) = &manifest.amendment {
        let value = serde_json::to_value(amendment).unwrap_or(Value::Null);
        let _ = write!(body, "<h2>Amendment</h2>{}", json_table(&value));
    }
    let _ = write!(body, "<h2>Counters</h2>{}", json_table(&manifest.counters));
    page("Overview", loaded.version(), &loaded.variant, &body)
}

/// Version `base` against the served version: conversations added, removed and changed (same
/// hash, different row), and count deltas.
pub struct Comparison {
    pub base: String,
    pub added: Vec<u32>,
    /// Ordinals in the base catalog.
    pub removed: Vec<u32>,
    pub changed: Vec<u32>,
    pub deltas: Vec<(String, u64, u64)>,
}

fn count_where(catalog: &Catalog, pick: impl Fn(&Entry) -> bool) -> u64 {
    catalog.entries.iter().filter(|entry| pick(entry)).count() as u64
}

/// Compares two catalogs (`base` is the older side). Blocking.
pub fn compare(base: &Catalog, served: &Catalog) -> Comparison {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (ordinal, hash) in served.hashes.iter().enumerate() {
        match base.ordinal_of(hash) {
            None => added.push(ordinal as u32),
            Some(other) if base.entries[other as usize].digest != served.entries[ordinal].digest => {
                changed.push(ordinal as u32)
            }
            Some(_) => {}
        }
    }
    let removed: Vec<u32> = base
        .hashes
        .iter()
        .enumerate()
        .filter(|(_, hash)| served.ordinal_of(hash).is_none())
        .map(|(ordinal, _)| ordinal as u32)
        .collect();
    let mut deltas = vec![
        ("conversations".to_string(), base.len() as u64, served.len() as u64),
        (
            "toxic conversations".to_string(),
            count_where(base, |entry| entry.toxic == 2),
            count_where(served, |entry| entry.toxic == 2),
        ),
        (
            "redacted conversations".to_string(),
            count_where(base, |entry| entry.redacted == 2),
            count_where(served, |entry| entry.redacted == 2),
        ),
        (
            "turns".to_string(),
            base.entries.iter().map(|entry| entry.turns.max(0) as u64).sum(),
            served.entries.iter().map(|entry| entry.turns.max(0) as u64).sum(),
        ),
    ];
    let mut languages: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    for (name, count) in base.counts(|entry| entry.language, &base.dims.language) {
        languages.entry(name).or_default().0 = count;
    }
    for (name, count) in served.counts(|entry| entry.language, &served.dims.language) {
        languages.entry(name).or_default().1 = count;
    }
    let mut languages: Vec<(String, u64, u64)> = languages
        .into_iter()
        .map(|(name, (a, b))| (format!("language {name}"), a, b))
        .collect();
    languages.sort_by(|x, y| {
        (y.2 as i64 - y.1 as i64)
            .abs()
            .cmp(&(x.2 as i64 - x.1 as i64).abs())
            .then_with(|| x.0.cmp(&y.0))
    });
    deltas.extend(languages);
    Comparison {
        base: base.version.clone(),
        added,
        removed,
        changed,
        deltas,
    }
}

fn hash_list(catalog: &Catalog, ordinals: &[u32], version_param: Option<&str>) -> String {
    let mut out = String::from("<ul class=\"hashes\">");
    for ordinal in ordinals.iter().take(COMPARE_LISTED) {
        let hash = &catalog.hashes[*ordinal as usize];
        let query = html::query(&[("version", version_param.unwrap_or(""))]);
        let _ = write!(
            out,
            "<li><a href=\"/conversation/{}{}\"><code>{}</code></a> <bdi>{}</bdi></li>",
            attr(hash),
            attr(&query),
            untrusted(hash),
            untrusted(&catalog.previews[*ordinal as usize])
        );
    }
    if ordinals.len() > COMPARE_LISTED {
        let _ = write!(out, "<li>… and {} more</li>", ordinals.len() - COMPARE_LISTED);
    }
    out.push_str("</ul>");
    out
}

/// A comparison with the base version it was made against.
pub type Compared = (std::sync::Arc<Loaded>, std::sync::Arc<Comparison>);

/// The compare page (`outcome` is None until a base version is chosen).
pub fn compare_page(
    served: &Loaded,
    versions: &[String],
    selected: &str,
    outcome: Option<Result<Compared, String>>,
) -> String {
    let mut body = String::from("<h1>Compare</h1><form method=\"get\" action=\"/compare\" class=\"filters\"><label>base version <select name=\"with\">");
    for version in versions.iter().filter(|version| *version != served.version()) {
        let _ = write!(
            body,
            "<option value=\"{}\"{}>{}</option>",
            attr(version),
            if version == selected { " selected" } else { "" },
            untrusted(version)
        );
    }
    let _ = write!(
        body,
        "</select></label> against {} <button type=\"submit\">compare</button></form>",
        text(served.version())
    );
    match outcome {
        None => {
            body.push_str("<p>Choose the version to compare against (for example the one a channel points at).</p>")
        }
        Some(Err(message)) => {
            let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", untrusted(&message));
        }
        Some(Ok((base, comparison))) => {
            let _ = write!(
                body,
                "<p class=\"count\">{} → {}: <span id=\"added\" data-count=\"{}\">{} added</span>, \
<span id=\"removed\" data-count=\"{}\">{} removed</span>, <span id=\"changed\" data-count=\"{}\">{} changed</span>.</p>\
<table class=\"deltas\"><thead><tr><th></th><th>{}</th><th>{}</th><th>delta</th></tr></thead><tbody>",
                untrusted(&comparison.base),
                untrusted(served.version()),
                comparison.added.len(),
                comparison.added.len(),
                comparison.removed.len(),
                comparison.removed.len(),
                comparison.changed.len(),
                comparison.changed.len(),
                untrusted(&comparison.base),
                untrusted(served.version()),
            );
            for (label, a, b) in &comparison.deltas {
                let _ = write!(
                    body,
                    "<tr><th>{}</th><td>{a}</td><td>{b}</td><td>{:+}</td></tr>",
                    untrusted(label),
                    *b as i64 - *a as i64
                );
            }
            body.push_str("</tbody></table>");
            let _ = write!(
                body,
                "<h2>Added</h2>{}<h2>Removed</h2>{}<h2>Changed</h2>{}",
                hash_list(&served.catalog, &comparison.added, None),
                hash_list(&base.catalog, &comparison.removed, Some(&comparison.base)),
                hash_list(&served.catalog, &comparison.changed, None),
            );
        }
    }
    page("Compare", served.version(), &served.variant, &body)
}

/// The takedown basket: filled by the page script from the browser's storage.
pub fn basket_page(loaded: &Loaded) -> String {
    let body = "<h1>Takedown basket</h1><p>Conversations ticked while browsing, kept in this browser. \
The file lists one conversation_hash per line, the format <code>release amend --remove</code> reads.</p>\
<ul id=\"basket-list\"></ul><p><a id=\"basket-download\" href=\"/basket.txt\" download>download the exclusion file</a> \
<button type=\"button\" id=\"basket-clear\">empty the basket</button></p>";
    page("Basket", loaded.version(), &loaded.variant, body)
}

/// A page with a message (errors, not found).
pub fn message_page(loaded: &Loaded, title: &str, message: &str) -> String {
    page(
        title,
        loaded.version(),
        &loaded.variant,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
            text(title),
            untrusted(message)
        ),
    )
}

/// The login form (a token is needed for this server).
pub fn login_page(failed: bool) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Release explorer: token</title>\
<link rel=\"stylesheet\" href=\"/static/explorer.css\"></head><body><main><h1>Release explorer</h1>{}\
<form method=\"post\" action=\"/login\"><label>access token <input type=\"password\" name=\"token\" autofocus></label> \
<button type=\"submit\">enter</button></form></main></body></html>\n",
        if failed {
            "<p class=\"error\" role=\"alert\">That token is not right.</p>"
        } else {
            "<p>This server needs its access token.</p>"
        }
    )
}
