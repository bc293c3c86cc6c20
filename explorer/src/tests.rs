use super::html;
use super::pages::placeholder_ranges;
use super::search::{query_words, word_ranges};

#[test]
fn escaping_makes_markup_inert() {
    assert_eq!(
        html::text("<script>alert('x')</script>&\""),
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
    );
    assert_eq!(html::attr("\" onmouseover=\"x"), "&quot; onmouseover=&quot;x");
}

#[test]
fn bidi_and_invisible_controls_are_shown_as_markers() {
    let shown = html::untrusted("a\u{202E}b\u{2066}c\u{200B}d\te\nf\u{0007}");
    assert_eq!(
        shown,
        "a<span class=\"ctl\">U+202E</span>b<span class=\"ctl\">U+2066</span>c<span class=\"ctl\">U+200B</span>d\te\nf<span class=\"ctl\">U+0007</span>"
    );
}

#[test]
fn marks_wrap_ranges_and_skip_bad_ones() {
    let text = "say <b>héllo</b> world";
    let hello = text.find("héllo").unwrap();
    let world = text.find("world").unwrap();
    let marked = html::marked(
        text,
        &[
            (hello..hello + "héllo".len(), "hit"),
            (hello + 1..hello + 2, "hit"), // overlaps and splits é: left unmarked
            (world..world + 5, "redaction"),
        ],
    );
    assert_eq!(
        marked,
        "say &lt;b&gt;<mark class=\"hit\">héllo</mark>&lt;/b&gt; <mark class=\"redaction\">world</mark>"
    );
}

#[test]
fn placeholders_of_both_policies_are_found() {
    let text = "Hi <PRESIDIO_ANONYMIZED_PERSON>, key <SECRET_REDACTED_AWS_ACCESS_KEY>, mail \
<EMAIL_ADDRESS:0123456789abcdef>; not <b>, <AB>, <X:12> or <NAME:0123>";
    let found: Vec<&str> = placeholder_ranges(text).into_iter().map(|range| &text[range]).collect();
    assert_eq!(
        found,
        vec![
            "<PRESIDIO_ANONYMIZED_PERSON>",
            "<SECRET_REDACTED_AWS_ACCESS_KEY>",
            "<EMAIL_ADDRESS:0123456789abcdef>"
        ]
    );
}

#[test]
fn query_words_are_highlighted_as_whole_words_ignoring_case() {
    let words = query_words("\"Violet harbor\" AND lantern");
    assert_eq!(words, vec!["harbor", "lantern", "violet"]);
    let text = "The VIOLET harbors; violet-harbor lantern";
    let found: Vec<&str> = word_ranges(text, &words)
        .into_iter()
        .map(|range| &text[range])
        .collect();
    assert_eq!(found, vec!["VIOLET", "violet", "harbor", "lantern"]);
}
