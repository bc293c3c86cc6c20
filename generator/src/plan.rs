//! The plan of one conversation unit, a pure function of (seed, unit index): language,
//! model, user(s), planted linking scenario, and every logged row with its timestamp and the
//! expected conversation it ends up in. Both the metadata pass and the renderers call it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Geometric, LogNormal};

use super::languages::LANGUAGES;
use super::network::{
    country_index, draw_client_ip, draw_client_ip_other_than, draw_header_habits, pick_user_agent, pick_weighted,
    HeaderHabits, COUNTRIES, USER_AGENTS,
};
use super::text::Role;

/// Random-stream domains, so no two purposes ever share a stream.
pub mod domain {
    pub const UNIT: u64 = 1;
    pub const USER: u64 = 2;
    pub const NAT: u64 = 3;
    pub const MESSAGE: u64 = 4;
    pub const ROW: u64 = 5;
    pub const MALFORMED_PLAN: u64 = 6;
    pub const MALFORMED_RENDER: u64 = 7;
    pub const SALT: u64 = 8;
}

/// A row that belongs to no expected conversation (its chain is dropped by the linker).
pub const NO_CONVERSATION: u8 = u8::MAX;
/// Longest conversation, in turns; also keeps the turn inside the 6 bits of the unique code.
pub const MAX_TURNS: u8 = 60;

// Turn-count model: single-turn share, then 2 + geometric for the rest. Tuned so that the
// expected conversations (after the planted scenarios split, cut or drop some) average about
// 2.5 turns with about 41 % multi-turn.
const SINGLE_TURN_SHARE: f64 = 0.572;
const EXTRA_TURNS_MEAN: f64 = 2.75;

const GPT4_SHARE: f64 = 0.24;
const TOXIC_UNIT_SHARE: f64 = 0.05;
/// Users behind a shared NAT address.
const NAT_USER_SHARE: f64 = 0.07;
const ABSENT_ACCEPT_LANGUAGE_SHARE: f64 = 0.03;
/// Average conversations per user, which sizes each language's user pool.
const CONVERSATIONS_PER_USER: f64 = 3.0;
/// Users sharing one NAT address, on average.
const USERS_PER_NAT_ADDRESS: f64 = 20.0;

/// Scenario rates per unit (all need at least two turns, so they are drawn among
/// multi-turn units with these rates divided by the multi-turn share).
const REGENERATED_FIRST_RATE: f64 = 0.03;
const REGENERATED_LATER_RATE: f64 = 0.03;
const MISSING_FIRST_RATE: f64 = 0.02;
const IP_CHANGE_RATE: f64 = 0.03;
const TWINS_RATE: f64 = 0.01;

const SECOND: i64 = 1_000_000;

/// Mixes a domain and two indices into a stream number.
fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// Everything the plan depends on besides the unit index.
pub struct PlanContext {
    seed_key: [u8; 32],
    pub range_start_micros: i64,
    pub range_end_micros: i64,
    /// Users per language.
    pub user_pool_sizes: Vec<u32>,
    pub nat_pool_sizes: Vec<u32>,
    /// Switch dates of the dated model snapshots, in micros.
    gpt35_switches: [i64; 2],
    gpt4_switches: [i64; 2],
    /// Salt of the reply uniqueness block (< 2^40).
    pub uniqueness_salt: u64,
}

fn utc_micros(year: i32, month: u32, day: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|moment| moment.and_utc().timestamp_micros())
        .unwrap_or(0)
}

impl PlanContext {
    pub fn new(seed: u64, units: u64) -> PlanContext {
        let seed_key = ChaCha8Rng::seed_from_u64(seed).get_seed();
        let user_pool_sizes = LANGUAGES
            .iter()
            .map(|language| {
                let expected_conversations = units as f64 * language.weight / 100.0;
                (expected_conversations / CONVERSATIONS_PER_USER).ceil().max(8.0) as u32
            })
            .collect::<Vec<u32>>();
        let nat_pool_sizes = user_pool_sizes
            .iter()
            .map(|&users| ((f64::from(users) * NAT_USER_SHARE / USERS_PER_NAT_ADDRESS).ceil() as u32).max(2))
            .collect();
        let mut context = PlanContext {
            seed_key,
            range_start_micros: utc_micros(2023, 4, 9),
            range_end_micros: utc_micros(2024, 5, 1) - 1,
            user_pool_sizes,
            nat_pool_sizes,
            gpt35_switches: [utc_micros(2023, 6, 27), utc_micros(2024, 2, 16)],
            gpt4_switches: [utc_micros(2023, 11, 7), utc_micros(2024, 1, 26)],
            uniqueness_salt: 0,
        };
        context.uniqueness_salt = context.rng(domain::SALT, 0, 0).random::<u64>() & ((1 << 40) - 1);
        context
    }

    /// The random stream for (domain, a, b): same seed key, its own ChaCha stream.
    pub fn rng(&self, domain: u64, first: u64, second: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.seed_key);
        let stream = splitmix64(domain.wrapping_mul(0xA076_1D64_78BD_642F) ^ splitmix64(first ^ splitmix64(second)));
        rng.set_stream(stream);
        rng
    }

    pub fn dated_model(&self, is_gpt4: bool, micros: i64) -> &'static str {
        if is_gpt4 {
            match micros {
                _ if micros < self.gpt4_switches[0] => "gpt-4-0314",
                _ if micros < self.gpt4_switches[1] => "gpt-4-1106-preview",
                _ => "gpt-4-0125-preview",
            }
        } else {
            match micros {
                _ if micros < self.gpt35_switches[0] => "gpt-3.5-turbo-0301",
                _ if micros < self.gpt35_switches[1] => "gpt-3.5-turbo-0613",
                _ => "gpt-3.5-turbo-0125",
            }
        }
    }
}

/// Who sends a thread's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_agent: &'static str,
    pub accept_language: Option<&'static str>,
    pub country: usize,
    pub client_ip: String,
    pub habits: HeaderHabits,
    pub temperature: &'static str,
    pub top_p: &'static str,
}

const TEMPERATURES: &[(&str, f64)] = &[
    ("1.0", 5.0),
    ("0.7", 3.0),
    ("0.5", 1.0),
    ("0.9", 1.0),
    ("1.2", 0.5),
    ("0.3", 0.5),
];
const TOP_PS: &[(&str, f64)] = &[("1.0", 6.0), ("1", 2.0), ("0.95", 1.0), ("0.9", 1.0)];

fn draw_country(rng: &mut ChaCha8Rng, language: usize) -> usize {
    let countries = LANGUAGES[language].countries;
    let picked = pick_weighted(rng, countries, |(_, weight)| *weight);
    country_index(countries[picked].0)
}

/// The client address of a shared NAT gateway of the language's users.
fn nat_address(context: &PlanContext, language: usize, nat_index: u32) -> String {
    let mut rng = context.rng(domain::NAT, language as u64, u64::from(nat_index));
    let country = draw_country(&mut rng, language);
    super::network::draw_ipv4(&mut rng, COUNTRIES[country].ipv4)
}

/// The settings a browser session sends with every request, drawn fresh per identity.
fn draw_session_details(rng: &mut ChaCha8Rng) -> (HeaderHabits, &'static str, &'static str) {
    let habits = draw_header_habits(rng);
    let temperature = TEMPERATURES[pick_weighted(rng, TEMPERATURES, |(_, weight)| *weight)].0;
    let top_p = TOP_PS[pick_weighted(rng, TOP_PS, |(_, weight)| *weight)].0;
    (habits, temperature, top_p)
}

/// User `index` of the language's pool: a pure function, so a user keeps its identity
/// across all its conversations.
pub fn user_identity(context: &PlanContext, language: usize, index: u32) -> Identity {
    let mut rng = context.rng(domain::USER, language as u64, u64::from(index));
    let language_name = LANGUAGES[language].name;
    let user_agent = USER_AGENTS[pick_user_agent(&mut rng, language_name)].text;
    let accept_languages = LANGUAGES[language].accept_languages;
    let accept_language = if rng.random_bool(ABSENT_ACCEPT_LANGUAGE_SHARE) {
        None
    } else {
        Some(accept_languages[rng.random_range(0..accept_languages.len())])
    };
    let country = draw_country(&mut rng, language);
    let client_ip = if rng.random_bool(NAT_USER_SHARE) {
        let pool = context.nat_pool_sizes[language];
        // Skewed, so a few gateways carry most NAT users.
        let nat_index = ((f64::from(pool) * rng.random::<f64>().powi(2)) as u32).min(pool - 1);
        nat_address(context, language, nat_index)
    } else {
        draw_client_ip(&mut rng, &COUNTRIES[country])
    };
    let (habits, temperature, top_p) = draw_session_details(&mut rng);
    Identity {
        user_agent,
        accept_language,
        country,
        client_ip,
        habits,
        temperature,
        top_p,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Plain,
    /// The first reply was regenerated; the user continued from the regenerated one.
    RegeneratedFirstReply,
    /// The reply at `turn` (>= 1, zero-based) was regenerated; the continuation is orphaned.
    RegeneratedLaterReply {
        turn: u8,
    },
    /// The first `omitted` rows were never logged.
    MissingFirstTurns {
        omitted: u8,
    },
    /// From `from_turn` on, the user's address changed.
    IpChange {
        from_turn: u8,
    },
    /// A second user with the same fingerprint and model opened with the same exchange.
    Twins,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::RegeneratedFirstReply => "regenerated_first_reply",
            Scenario::RegeneratedLaterReply { .. } => "regenerated_later_reply",
            Scenario::MissingFirstTurns { .. } => "missing_first_turns",
            Scenario::IpChange { .. } => "ip_change",
            Scenario::Twins => "twins",
        }
    }
}

/// One user's line of requests inside a unit (twins have two).
#[derive(Debug, Clone)]
pub struct ThreadPlan {
    pub identity: Identity,
    /// The address used from `ip_change_turn` on.
    pub changed_ip: Option<(u8, String)>,
    /// The turn whose reply was regenerated; its regenerated variant (1) is the history.
    pub regenerated_turn: Option<u8>,
}

/// One logged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRow {
    pub thread: u8,
    pub turn: u8,
    /// 0 for the original reply, 1 for the regenerated one.
    pub reply_variant: u8,
    pub micros: i64,
    /// Which expected conversation of the unit the row ends up in, or NO_CONVERSATION.
    pub conversation_slot: u8,
}

/// Identifies one message of a unit: which thread's content, turn, role, reply variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageSlot {
    pub content_thread: u8,
    pub turn: u8,
    pub role: Role,
    pub variant: u8,
}

impl MessageSlot {
    /// A stream index unique within the unit.
    pub fn stream_index(self) -> u64 {
        let role = match self.role {
            Role::User => 0u64,
            Role::Assistant => 1,
        };
        (u64::from(self.turn) << 8) | (u64::from(self.content_thread) << 4) | (role << 2) | u64::from(self.variant)
    }

    /// The code a reply's uniqueness block spells: distinct for every reply of the
    /// dataset, below 2^40 (31 bits of unit, 6 of turn, 3 of thread and variant).
    pub fn unique_code(self, unit: u32) -> u64 {
        (u64::from(unit) << 9)
            | (u64::from(self.turn) << 3)
            | (u64::from(self.content_thread) * 2 + u64::from(self.variant))
    }
}

#[derive(Debug, Clone)]
pub struct UnitPlan {
    pub unit: u32,
    pub language: usize,
    pub is_gpt4: bool,
    pub dated_model: &'static str,
    pub scenario: Scenario,
    pub threads: Vec<ThreadPlan>,
    /// In time order within each thread.
    pub rows: Vec<PlannedRow>,
    pub toxic_target: Option<MessageSlot>,
}

impl UnitPlan {
    /// Whose content a thread shows at a turn: twin B repeats twin A's opening exchange.
    pub fn content_thread(&self, thread: u8, turn: u8) -> u8 {
        if self.scenario == Scenario::Twins && thread == 1 && turn == 0 {
            0
        } else {
            thread
        }
    }

    /// The reply variant the history carries at `turn`: the regenerated one where the
    /// user continued from it.
    pub fn history_reply_variant(&self, thread: u8, turn: u8) -> u8 {
        u8::from(self.threads[usize::from(thread)].regenerated_turn == Some(turn))
    }

    pub fn user_slot(&self, thread: u8, turn: u8) -> MessageSlot {
        MessageSlot {
            content_thread: self.content_thread(thread, turn),
            turn,
            role: Role::User,
            variant: 0,
        }
    }

    pub fn reply_slot(&self, thread: u8, turn: u8, variant: u8) -> MessageSlot {
        MessageSlot {
            content_thread: self.content_thread(thread, turn),
            turn,
            role: Role::Assistant,
            variant,
        }
    }

    /// The client address a row was sent from.
    pub fn client_ip(&self, row: &PlannedRow) -> &str {
        let thread = &self.threads[usize::from(row.thread)];
        match &thread.changed_ip {
            Some((from_turn, address)) if row.turn >= *from_turn => address,
            _ => &thread.identity.client_ip,
        }
    }

    /// Rows of chains the linker drops, and how many such chains.
    pub fn dropped(&self) -> (u32, u32) {
        let rows = self
            .rows
            .iter()
            .filter(|row| row.conversation_slot == NO_CONVERSATION)
            .count() as u32;
        (rows, u32::from(rows > 0))
    }
}

fn draw_extra_turns(rng: &mut ChaCha8Rng) -> u8 {
    let extra = Geometric::new(1.0 / (1.0 + EXTRA_TURNS_MEAN))
        .map(|distribution| distribution.sample(rng))
        .unwrap_or(0);
    (2 + extra.min(u64::from(MAX_TURNS - 2))) as u8
}

fn draw_turns(rng: &mut ChaCha8Rng) -> u8 {
    if rng.random_bool(SINGLE_TURN_SHARE) {
        1
    } else {
        draw_extra_turns(rng)
    }
}

/// Time between a reply and the next reply of the same user: reading, typing, and the
/// model's streaming. Minutes, rarely past a quarter of an hour.
fn draw_turn_gap(rng: &mut ChaCha8Rng) -> i64 {
    let think_seconds = LogNormal::new(100f64.ln(), 0.9)
        .map(|distribution| distribution.sample(rng))
        .unwrap_or(100.0)
        .min(1_200.0);
    15 * SECOND + (think_seconds * SECOND as f64) as i64 + rng.random_range(0..SECOND)
}

fn draw_short_delay(rng: &mut ChaCha8Rng, low_seconds: i64, high_seconds: i64) -> i64 {
    rng.random_range(low_seconds * SECOND..high_seconds * SECOND)
}

fn draw_scenario(rng: &mut ChaCha8Rng, turns: u8) -> Scenario {
    if turns < 2 {
        return Scenario::Plain;
    }
    let multi_turn_share = 1.0 - SINGLE_TURN_SHARE;
    let roll = rng.random::<f64>() * multi_turn_share;
    let mut threshold = REGENERATED_FIRST_RATE;
    if roll < threshold {
        return Scenario::RegeneratedFirstReply;
    }
    threshold += REGENERATED_LATER_RATE;
    if roll < threshold {
        return Scenario::RegeneratedLaterReply {
            turn: rng.random_range(1..turns),
        };
    }
    threshold += MISSING_FIRST_RATE;
    if roll < threshold {
        return Scenario::MissingFirstTurns {
            omitted: rng.random_range(1..turns),
        };
    }
    threshold += IP_CHANGE_RATE;
    if roll < threshold {
        return Scenario::IpChange {
            from_turn: rng.random_range(1..turns),
        };
    }
    threshold += TWINS_RATE;
    if roll < threshold {
        return Scenario::Twins;
    }
    Scenario::Plain
}

/// The plan of unit `unit`.
pub fn plan_unit(context: &PlanContext, unit: u32) -> UnitPlan {
    let mut rng = context.rng(domain::UNIT, u64::from(unit), 0);
    let language = pick_weighted(&mut rng, LANGUAGES, |language| language.weight);
    let pool = context.user_pool_sizes[language];
    // Skewed towards low indices: a few heavy users, a long tail of occasional ones.
    let user_index = ((f64::from(pool) * rng.random::<f64>().powi(2)) as u32).min(pool - 1);
    let identity = user_identity(context, language, user_index);
    let is_gpt4 = rng.random_bool(GPT4_SHARE);
    let latest_start = context.range_end_micros - 2 * 86_400 * SECOND;
    let start = rng.random_range(context.range_start_micros..latest_start);
    let dated_model = context.dated_model(is_gpt4, start);
    let turns = draw_turns(&mut rng);
    let scenario = draw_scenario(&mut rng, turns);

    let mut threads = vec![ThreadPlan {
        identity,
        changed_ip: None,
        regenerated_turn: None,
    }];
    let mut rows = Vec::with_capacity(usize::from(turns) + 2);
    match scenario {
        Scenario::Plain | Scenario::IpChange { .. } => {
            if let Scenario::IpChange { from_turn } = scenario {
                let first = &threads[0].identity;
                let moved = draw_client_ip_other_than(&mut rng, &COUNTRIES[first.country], &first.client_ip);
                threads[0].changed_ip = Some((from_turn, moved));
            }
            let mut micros = start;
            for turn in 0..turns {
                rows.push(PlannedRow {
                    thread: 0,
                    turn,
                    reply_variant: 0,
                    micros,
                    conversation_slot: 0,
                });
                micros += draw_turn_gap(&mut rng);
            }
        }
        Scenario::RegeneratedFirstReply | Scenario::RegeneratedLaterReply { .. } => {
            let regenerated = match scenario {
                Scenario::RegeneratedLaterReply { turn } => turn,
                _ => 0,
            };
            threads[0].regenerated_turn = Some(regenerated);
            // Before the regeneration everything is one conversation (slot 0). Regenerating
            // the first reply starts a second conversation (slot 1); regenerating a later
            // one orphans the rest, which the linker drops.
            let after_slot = if regenerated == 0 { 1 } else { NO_CONVERSATION };
            let mut micros = start;
            for turn in 0..turns {
                if turn > regenerated {
                    rows.push(PlannedRow {
                        thread: 0,
                        turn,
                        reply_variant: 0,
                        micros,
                        conversation_slot: after_slot,
                    });
                    micros += draw_turn_gap(&mut rng);
                    continue;
                }
                rows.push(PlannedRow {
                    thread: 0,
                    turn,
                    reply_variant: 0,
                    micros,
                    conversation_slot: 0,
                });
                if turn == regenerated {
                    micros += draw_short_delay(&mut rng, 8, 60);
                    rows.push(PlannedRow {
                        thread: 0,
                        turn,
                        reply_variant: 1,
                        micros,
                        conversation_slot: after_slot,
                    });
                }
                micros += draw_turn_gap(&mut rng);
            }
        }
        Scenario::MissingFirstTurns { omitted } => {
            let mut micros = start;
            for turn in 0..turns {
                if turn >= omitted {
                    rows.push(PlannedRow {
                        thread: 0,
                        turn,
                        reply_variant: 0,
                        micros,
                        conversation_slot: NO_CONVERSATION,
                    });
                }
                micros += draw_turn_gap(&mut rng);
            }
        }
        Scenario::Twins => {
            let first = threads[0].identity.clone();
            let (habits, temperature, top_p) = draw_session_details(&mut rng);
            let twin = Identity {
                client_ip: draw_client_ip_other_than(&mut rng, &COUNTRIES[first.country], &first.client_ip),
                habits,
                temperature,
                top_p,
                ..first
            };
            let twin_turns = draw_extra_turns(&mut rng);
            threads.push(ThreadPlan {
                identity: twin,
                changed_ip: None,
                regenerated_turn: None,
            });
            // Both opening rows come before both second rows.
            let twin_start = start + draw_short_delay(&mut rng, 1, 60);
            for (thread, thread_turns, opening) in [(0u8, turns, start), (1u8, twin_turns, twin_start)] {
                rows.push(PlannedRow {
                    thread,
                    turn: 0,
                    reply_variant: 0,
                    micros: opening,
                    conversation_slot: thread,
                });
                let mut micros = twin_start + draw_turn_gap(&mut rng);
                for turn in 1..thread_turns {
                    rows.push(PlannedRow {
                        thread,
                        turn,
                        reply_variant: 0,
                        micros,
                        conversation_slot: thread,
                    });
                    micros += draw_turn_gap(&mut rng);
                }
            }
        }
    }

    let mut plan = UnitPlan {
        unit,
        language,
        is_gpt4,
        dated_model,
        scenario,
        threads,
        rows,
        toxic_target: None,
    };
    if rng.random_bool(TOXIC_UNIT_SHARE) {
        // Only a turn the linker keeps, so every planted toxic turn appears in the truth.
        let kept: Vec<PlannedRow> = plan
            .rows
            .iter()
            .filter(|row| row.conversation_slot != NO_CONVERSATION)
            .copied()
            .collect();
        if !kept.is_empty() {
            let row = kept[rng.random_range(0..kept.len())];
            plan.toxic_target = Some(if rng.random_bool(0.7) {
                plan.user_slot(row.thread, row.turn)
            } else {
                plan.reply_slot(row.thread, row.turn, row.reply_variant)
            });
        }
    }
    plan
}
