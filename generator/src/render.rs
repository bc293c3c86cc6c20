//! Turns planned rows into raw log lines: the request payload with the whole history, the
//! streamed reply, the headers (a Python repr string or a JSON object), plus the standalone
//! malformed lines. Messages are composed once per object and reused by later rows.

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::encode::{push_date, push_json_string, python_dict_repr, DateStyle};
use super::languages::LANGUAGES;
use super::network::{draw_proxy_ip, header_entries, host_for_model, pick_weighted, HeaderInput};
use super::plan::{domain, plan_unit, user_identity, MessageSlot, PlanContext, UnitPlan, NO_CONVERSATION};
use super::text::{compose_message, MessageRequest, Planted, Role};

/// Why a standalone line is malformed; the names are the pipeline's quarantine reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    InvalidJson,
    BadHeaders,
    NonAlternatingRoles,
    MissingClientIp,
}

impl Defect {
    pub const ALL: [Defect; 4] = [
        Defect::InvalidJson,
        Defect::BadHeaders,
        Defect::NonAlternatingRoles,
        Defect::MissingClientIp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Defect::InvalidJson => "invalid_json",
            Defect::BadHeaders => "bad_headers",
            Defect::NonAlternatingRoles => "non_alternating_roles",
            Defect::MissingClientIp => "missing_client_ip",
        }
    }

    /// Relative frequency among malformed lines.
    pub fn weight(self) -> f64 {
        match self {
            Defect::InvalidJson => 0.3,
            Defect::BadHeaders => 0.2,
            Defect::NonAlternatingRoles => 0.3,
            Defect::MissingClientIp => 0.2,
        }
    }
}

/// What kind of line sits at a position of the global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineKind {
    Row,
    Malformed(Defect),
}

/// The compact per-line metadata that is sorted globally. For a row, `source` is the unit
/// and `row_index` indexes its plan's rows; for a malformed line, `source` is its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineMeta {
    pub micros: i64,
    pub source: u32,
    pub row_index: u16,
    pub kind: LineKind,
    pub conversation_slot: u8,
}

impl LineMeta {
    /// Unique per line, so sorting by it is deterministic even with an unstable sort.
    pub fn order_key(&self) -> (i64, LineKind, u32, u16) {
        (self.micros, self.kind, self.source, self.row_index)
    }
}

/// A planted item tied to the row that introduced its message.
#[derive(Debug, Clone)]
pub struct PlantedRecord {
    pub turn_identifier: u64,
    pub role: Role,
    pub planted: Planted,
}

/// What one object's rendering measured, for the truth files.
#[derive(Debug, Default)]
pub struct ObjectReport {
    pub planted: Vec<PlantedRecord>,
    pub user_tokens: u64,
    pub user_messages: u64,
    pub assistant_tokens: u64,
    pub assistant_messages: u64,
}

struct CachedMessage {
    /// The content as a JSON string literal, quotes included.
    content_json: String,
    tokens: u32,
    planted: Vec<Planted>,
}

struct UnitState {
    plan: UnitPlan,
    messages: HashMap<MessageSlot, CachedMessage>,
    rows_left_in_object: u32,
}

fn compose_cached(context: &PlanContext, plan: &UnitPlan, slot: MessageSlot) -> CachedMessage {
    let mut rng = context.rng(domain::MESSAGE, u64::from(plan.unit), slot.stream_index());
    let request = MessageRequest {
        language: &LANGUAGES[plan.language],
        role: slot.role,
        may_be_empty: slot.turn > 0,
        toxic: plan.toxic_target == Some(slot),
        uniqueness: (slot.role == Role::Assistant).then(|| (slot.unique_code(plan.unit), context.uniqueness_salt)),
    };
    let message = compose_message(&mut rng, &request);
    let mut content_json = String::with_capacity(message.content.len() + 16);
    push_json_string(&mut content_json, &message.content);
    CachedMessage {
        content_json,
        tokens: message.tokens,
        planted: message.planted,
    }
}

fn draw_date_style(rng: &mut ChaCha8Rng) -> DateStyle {
    let roll: f64 = rng.random();
    if roll < 0.85 {
        DateStyle::NaiveUtc
    } else if roll < 0.95 {
        DateStyle::IsoZulu
    } else {
        DateStyle::ExplicitOffset
    }
}

/// How the headers field is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderForm {
    PythonRepr,
    JsonObject,
}

fn push_headers(out: &mut String, entries: &[(&str, String)], form: HeaderForm) {
    match form {
        HeaderForm::PythonRepr => {
            let borrowed: Vec<(&str, &str)> = entries.iter().map(|(name, value)| (*name, value.as_str())).collect();
            push_json_string(out, &python_dict_repr(&borrowed));
        }
        HeaderForm::JsonObject => {
            out.push('{');
            for (position, (name, value)) in entries.iter().enumerate() {
                if position > 0 {
                    out.push_str(", ");
                }
                push_json_string(out, name);
                out.push_str(": ");
                push_json_string(out, value);
            }
            out.push('}');
        }
    }
}

/// The fields of one line, assembled into the raw row layout.
struct RowParts<'a> {
    id: Option<u64>,
    micros: i64,
    date_style: DateStyle,
    undated_model: &'a str,
    dated_model: &'a str,
    /// (role, content as a JSON string literal) of each message of the history.
    messages: &'a [(&'a str, &'a str)],
    reply_json: &'a str,
    temperature: &'a str,
    top_p: &'a str,
    /// The `headers` value, already encoded.
    headers_json: &'a str,
    text_as_string: bool,
}

fn push_text_object(out: &mut String, parts: &RowParts<'_>) {
    out.push_str("{\"payload\": {\"model\": \"");
    out.push_str(parts.undated_model);
    out.push_str("\", \"messages\": [");
    for (position, (role, content_json)) in parts.messages.iter().enumerate() {
        if position > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"role\": \"");
        out.push_str(role);
        out.push_str("\", \"content\": ");
        out.push_str(content_json);
        out.push('}');
    }
    out.push_str("], \"temperature\": ");
    out.push_str(parts.temperature);
    out.push_str(", \"top_p\": ");
    out.push_str(parts.top_p);
    out.push_str(
        ", \"n\": 1, \"stream\": true, \"presence_penalty\": 0, \"frequency_penalty\": 0}, \"partial_words\": ",
    );
    out.push_str(parts.reply_json);
    out.push_str(", \"model\": \"");
    out.push_str(parts.dated_model);
    out.push_str("\", \"headers\": ");
    out.push_str(parts.headers_json);
    out.push('}');
}

fn push_row(out: &mut String, parts: &RowParts<'_>) {
    out.push('{');
    if let Some(id) = parts.id {
        out.push_str("\"id\": ");
        out.push_str(&id.to_string());
        out.push_str(", ");
    }
    out.push_str("\"date\": \"");
    push_date(out, parts.micros, parts.date_style);
    out.push_str("\", \"text\": ");
    if parts.text_as_string {
        let mut text = String::new();
        push_text_object(&mut text, parts);
        push_json_string(out, &text);
    } else {
        push_text_object(out, parts);
    }
    out.push('}');
}

fn undated_model(is_gpt4: bool) -> &'static str {
    if is_gpt4 {
        "gpt-4"
    } else {
        "gpt-3.5-turbo"
    }
}

/// Renders the lines of one object, in order, reusing composed messages across rows.
pub struct ObjectRenderer<'a> {
    context: &'a PlanContext,
    units: HashMap<u32, UnitState>,
    rows_per_unit: HashMap<u32, u32>,
    pub report: ObjectReport,
}

impl<'a> ObjectRenderer<'a> {
    pub fn new(context: &'a PlanContext, lines: &[LineMeta]) -> ObjectRenderer<'a> {
        // Counted up front so a unit's messages are dropped after its last row here.
        let mut rows_per_unit: HashMap<u32, u32> = HashMap::new();
        for line in lines.iter().filter(|line| line.kind == LineKind::Row) {
            *rows_per_unit.entry(line.source).or_default() += 1;
        }
        ObjectRenderer {
            context,
            units: HashMap::new(),
            rows_per_unit,
            report: ObjectReport::default(),
        }
    }

    /// Appends the line (without its newline) for `line`, whose id is `id`.
    pub fn render_line(&mut self, line: &LineMeta, id: u64, out: &mut String) {
        match line.kind {
            LineKind::Row => self.render_row(line, id, out),
            LineKind::Malformed(defect) => render_malformed(self.context, line, defect, id, out),
        }
    }

    fn render_row(&mut self, line: &LineMeta, id: u64, out: &mut String) {
        let context = self.context;
        let unit = line.source;
        let rows_in_object = self.rows_per_unit.get(&unit).copied().unwrap_or(1);
        let state = self.units.entry(unit).or_insert_with(|| UnitState {
            plan: plan_unit(context, unit),
            messages: HashMap::new(),
            rows_left_in_object: rows_in_object,
        });
        let plan = &state.plan;
        let row = plan.rows[usize::from(line.row_index)];

        let mut history_slots: Vec<MessageSlot> = Vec::with_capacity(usize::from(row.turn) * 2 + 1);
        for turn in 0..row.turn {
            history_slots.push(plan.user_slot(row.thread, turn));
            history_slots.push(plan.reply_slot(row.thread, turn, plan.history_reply_variant(row.thread, turn)));
        }
        let user_slot = plan.user_slot(row.thread, row.turn);
        history_slots.push(user_slot);
        let reply_slot = plan.reply_slot(row.thread, row.turn, row.reply_variant);
        for slot in history_slots.iter().chain(std::iter::once(&reply_slot)) {
            if !state.messages.contains_key(slot) {
                let composed = compose_cached(context, plan, *slot);
                state.messages.insert(*slot, composed);
            }
        }

        let messages: Vec<(&str, &str)> = history_slots
            .iter()
            .map(|slot| (slot.role.as_str(), state.messages[slot].content_json.as_str()))
            .collect();

        let mut rng = context.rng(domain::ROW, u64::from(unit), u64::from(line.row_index));
        let date_style = draw_date_style(&mut rng);
        let text_as_string = rng.random_bool(0.05);
        let form = if rng.random_bool(0.7) {
            HeaderForm::PythonRepr
        } else {
            HeaderForm::JsonObject
        };
        let proxy_ip = draw_proxy_ip(&mut rng);
        let identity = &plan.threads[usize::from(row.thread)].identity;
        let entries = header_entries(&HeaderInput {
            host: host_for_model(plan.is_gpt4),
            user_agent: identity.user_agent,
            accept_language: identity.accept_language,
            habits: &identity.habits,
            client_ip: Some(plan.client_ip(&row)),
            proxy_ip: &proxy_ip,
        });
        let mut headers_json = String::new();
        push_headers(&mut headers_json, &entries, form);

        let user_message = &state.messages[&user_slot];
        let reply = &state.messages[&reply_slot];
        push_row(
            out,
            &RowParts {
                id: Some(id),
                micros: line.micros,
                date_style,
                undated_model: undated_model(plan.is_gpt4),
                dated_model: plan.dated_model,
                messages: &messages,
                reply_json: &reply.content_json,
                temperature: identity.temperature,
                top_p: identity.top_p,
                headers_json: &headers_json,
                text_as_string,
            },
        );

        if row.conversation_slot != NO_CONVERSATION {
            let report = &mut self.report;
            report.user_tokens += u64::from(user_message.tokens);
            report.user_messages += 1;
            report.assistant_tokens += u64::from(reply.tokens);
            report.assistant_messages += 1;
            for (role, message) in [(Role::User, user_message), (Role::Assistant, reply)] {
                for planted in &message.planted {
                    report.planted.push(PlantedRecord {
                        turn_identifier: id,
                        role,
                        planted: planted.clone(),
                    });
                }
            }
        }

        state.rows_left_in_object -= 1;
        if state.rows_left_in_object == 0 {
            self.units.remove(&unit);
        }
    }
}

const NOT_JSON_LINES: &[&str] = &[
    "not json",
    "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>",
    "Traceback (most recent call last):",
    "{id: ID, date: 2023-05-01, text: ???}",
    "undefined",
];

const CODE_HEADER_TEMPLATES: &[&str] = &[
    "{'user-agent': __import__('os').system('x'), 'x-forwarded-for': 'IP'}",
    "{'host': 'HOST', 'user-agent': eval('1+1'), 'x-forwarded-for': 'IP'}",
    "{'user-agent': 'Mozilla/5.0', 'x-forwarded-for': 'IP', 'cookie': open('/etc/passwd').read()}",
    "{'x-forwarded-for': 'IP', 'user-agent': (lambda: 'x')()}",
    "{'user-agent': 'Mozilla/5.0', 'x-forwarded-for': 'IP'} or exec('print(1)')",
];

/// A standalone malformed line. It reuses a real user's identity and well-formed content so
/// that exactly one defect makes it invalid.
fn render_malformed(context: &PlanContext, line: &LineMeta, defect: Defect, id: u64, out: &mut String) {
    let mut rng = context.rng(domain::MALFORMED_RENDER, u64::from(line.source), 0);
    let language = pick_weighted(&mut rng, LANGUAGES, |language| language.weight);
    let user_index = rng.random_range(0..context.user_pool_sizes[language]);
    let identity = user_identity(context, language, user_index);
    let is_gpt4 = rng.random_bool(0.24);

    let compose = |rng: &mut ChaCha8Rng, role: Role| {
        let request = MessageRequest {
            language: &LANGUAGES[language],
            role,
            may_be_empty: false,
            toxic: false,
            uniqueness: None,
        };
        let mut json = String::new();
        push_json_string(&mut json, &compose_message(rng, &request).content);
        json
    };
    let first_user = compose(&mut rng, Role::User);
    let reply = compose(&mut rng, Role::Assistant);

    let roles: Vec<&str> = if defect == Defect::NonAlternatingRoles {
        let shapes: &[&[&str]] = &[
            &["user", "user"],
            &["user", "user", "user"],
            &["assistant", "user"],
            &["assistant"],
            &["user", "assistant"],
            &["user", "assistant", "user", "assistant"],
            &["system", "user"],
            &["system", "user", "assistant", "user"],
            &["user", "system", "user"],
        ];
        shapes[rng.random_range(0..shapes.len())].to_vec()
    } else {
        let turns = rng.random_range(0..3usize);
        let mut roles = vec!["user"];
        for _ in 0..turns {
            roles.push("assistant");
            roles.push("user");
        }
        roles
    };
    let contents: Vec<String> = (0..roles.len())
        .map(|position| {
            if position == 0 {
                first_user.clone()
            } else {
                compose(&mut rng, Role::User)
            }
        })
        .collect();
    let messages: Vec<(&str, &str)> = roles
        .iter()
        .zip(&contents)
        .map(|(role, content)| (*role, content.as_str()))
        .collect();

    let client_ip = identity.client_ip.clone();
    let proxy_ip = draw_proxy_ip(&mut rng);
    let host = host_for_model(is_gpt4);
    let headers_json = match defect {
        Defect::BadHeaders => {
            let template = CODE_HEADER_TEMPLATES[rng.random_range(0..CODE_HEADER_TEMPLATES.len())];
            let mut json = String::new();
            push_json_string(&mut json, &template.replace("IP", &client_ip).replace("HOST", host));
            json
        }
        _ => {
            let entries = header_entries(&HeaderInput {
                host,
                user_agent: identity.user_agent,
                accept_language: identity.accept_language,
                habits: &identity.habits,
                client_ip: (defect != Defect::MissingClientIp).then_some(client_ip.as_str()),
                proxy_ip: &proxy_ip,
            });
            let form = if rng.random_bool(0.7) {
                HeaderForm::PythonRepr
            } else {
                HeaderForm::JsonObject
            };
            let mut json = String::new();
            push_headers(&mut json, &entries, form);
            json
        }
    };
    let parts = RowParts {
        id: Some(id),
        micros: line.micros,
        date_style: draw_date_style(&mut rng),
        undated_model: undated_model(is_gpt4),
        dated_model: context.dated_model(is_gpt4, line.micros),
        messages: &messages,
        reply_json: &reply,
        temperature: identity.temperature,
        top_p: identity.top_p,
        headers_json: &headers_json,
        text_as_string: rng.random_bool(0.05),
    };
    if defect != Defect::InvalidJson {
        push_row(out, &parts);
        return;
    }
    match rng.random_range(0..3) {
        0 => {
            let mut full = String::new();
            push_row(&mut full, &parts);
            // Any proper prefix of a JSON object is invalid JSON.
            let mut cut = full.len() * rng.random_range(30..90) / 100;
            while !full.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&full[..cut]);
        }
        1 => out.push_str(&NOT_JSON_LINES[rng.random_range(0..NOT_JSON_LINES.len())].replace("ID", &id.to_string())),
        _ => {
            if rng.random_bool(0.5) {
                out.push('[');
                push_row(out, &parts);
                out.push(']');
            } else {
                out.push_str(&format!("[{id}, \"{}\"]", line.micros));
            }
        }
    }
}
