//! Hand-written SVG bar charts for the dataset card: standalone files (xmlns, viewBox), one
//! horizontal bar per row with its count and percentage, labels escaped for XML.

use std::fmt::Write as _;

use crate::stats::{percent, ReleaseStats, Share};

/// Rows a distribution chart shows before the rest is summed into one `Other` bar.
pub const TOP_ROWS: usize = 20;

const WIDTH: u32 = 720;
const LABEL_WIDTH: u32 = 190;
const BAR_AREA: f64 = 390.0;
const ROW_HEIGHT: u32 = 22;
const BAR_HEIGHT: u32 = 16;
const TOP: u32 = 40;
const LABEL_CHARS: usize = 28;

/// One bar: label, count, percent of all conversations.
pub struct Bar {
    pub label: String,
    pub count: u64,
    pub percent: f64,
}

/// The first `top` rows of a distribution, the rest summed into `Other (N more)`; the percent
/// of that row follows the statistics' rule ([`percent`]) over `total`.
pub fn top_with_other(table: &[Share], total: u64, top: usize) -> Vec<Bar> {
    let mut bars: Vec<Bar> = table
        .iter()
        .take(top)
        .map(|share| Bar {
            label: share.name.clone(),
            count: share.count,
            percent: share.percent,
        })
        .collect();
    let rest = table.get(top..).unwrap_or_default();
    if !rest.is_empty() {
        let count: u64 = rest.iter().map(|share| share.count).sum();
        bars.push(Bar {
            label: format!("Other ({} more)", rest.len()),
            count,
            percent: percent(count, total),
        });
    }
    bars
}

/// Text for XML content or a double-quoted attribute; characters XML 1.0 forbids become U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(' '),
            control if (control as u32) < 0x20 || matches!(control, '\u{FFFE}' | '\u{FFFF}') => {
                escaped.push('\u{FFFD}')
            }
            other => escaped.push(other),
        }
    }
    escaped
}

fn shortened(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let mut short: String = label.chars().take(LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// A horizontal bar chart; bar lengths are proportional to the counts (the longest fills the
/// bar area).
pub fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let rows = bars.len().max(1) as u32;
    let height = TOP + rows * ROW_HEIGHT + 16;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", xml_escape(title));
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="10" y="24" font-size="15" font-weight="bold">{}</text>"#,
        xml_escape(title)
    );
    if bars.is_empty() {
        let _ = writeln!(
            svg,
            r##"<text x="{LABEL_WIDTH}" y="{}" fill="#666666">no data</text>"##,
            TOP + 14
        );
    }
    let largest = bars.iter().map(|bar| bar.count).max().unwrap_or(0).max(1);
    for (index, bar) in bars.iter().enumerate() {
        let y = TOP + index as u32 * ROW_HEIGHT;
        let text_y = y + BAR_HEIGHT - 3;
        let length = BAR_AREA * bar.count as f64 / largest as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{text_y}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8,
            xml_escape(&shortened(&bar.label))
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1}" height="{BAR_HEIGHT}" fill="#4c78a8"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{text_y}">{} ({:.2}%)</text>"#,
            f64::from(LABEL_WIDTH) + length + 6.0,
            bar.count,
            bar.percent
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The card's charts of one variant: `languages.svg`, `countries.svg`, `turns.svg`.
pub fn render_charts(stats: &ReleaseStats) -> Vec<(String, String)> {
    let languages = top_with_other(&stats.languages, stats.conversations, TOP_ROWS);
    let countries = top_with_other(&stats.countries, stats.conversations, TOP_ROWS);
    let turns: Vec<Bar> = stats
        .turn_buckets
        .iter()
        .map(|bucket| Bar {
            label: bucket.label.clone(),
            count: bucket.conversations,
            percent: bucket.percent,
        })
        .collect();
    vec![
        (
            "languages.svg".to_string(),
            bar_chart(&format!("Conversations by language (top {TOP_ROWS})"), &languages),
        ),
        (
            "countries.svg".to_string(),
            bar_chart(&format!("Conversations by country (top {TOP_ROWS})"), &countries),
        ),
        ("turns.svg".to_string(), bar_chart("Turns per conversation", &turns)),
    ]
}
