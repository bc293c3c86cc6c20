//! The candidate patterns of the one-scan design and the context words that raise weak candidates.
//!
//! Patterns use ASCII word boundaries and ASCII digits only: a Unicode `\b` makes the lazy DFA give up on the
//! first non-ASCII byte and fall back to the slow PikeVM, which dominated the run time on Chinese and Russian
//! text. Validators look at the neighbouring characters themselves where Unicode letters matter.

use crate::EntityType as E;
use crate::EntityType;

/// Which validator a pattern feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rec {
    Email,
    Url,
    Ipv4,
    Ipv6,
    Card,
    Iban,
    SsnItin,
    Phone,
    Base58,
    Bech32,
    Nhs,
    Tfn,
    Medicare,
    Nric,
    Nif,
    Date,
    /// A bare run of 6-17 digits: bank account, driver's licence, passport, Italian VAT numbers.
    Digits,
    /// One or two capitals then digits (DEA numbers, US and Italian licence, passport and identity card shapes).
    LettersDigits,
    /// `AA 1234567`, the paper Italian identity card written with a space.
    ItCardSpaced,
    /// `U1` + seven alphanumerics + a letter: the post-2013 Italian driving licence.
    ItLicenceU1,
    /// `IT12345678901`, a VAT number with its country prefix.
    ItVatPrefixed,
    FiscalCode,
}

pub(crate) const TLDS: &str =
    "com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|ly|xyz|online|site|shop|tech|\
    us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|cz|ru|ua|cn|jp|kr|in|au|nz|ca|br|mx|ar|za|ie|pt|gr|tr|il|sg|hk|tw|eu";

/// Rewrites `\b` to an ASCII word boundary and `\d` to ASCII digits (see the module comment).
fn ascii(p: &str) -> String {
    p.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]")
}

/// The longest match any pattern can have that may contain whitespace, in bytes. Matches without whitespace can
/// be longer (URLs): the scan's windows end at whitespace so those are never cut.
pub(crate) const MAX_SPACED_MATCH: usize = 192;

pub(crate) fn patterns() -> Vec<(Rec, String)> {
    let phone = r"(?:\+\s?|\b|\()(?:\d{1,5}\)[ .\-]?\d{1,8}|\d{1,8})(?:(?:[ .\-]|\s?\(|\)[ .\-]?)\d{1,8}){0,6}(?:\s?(?:x|ext\.?|extension|#)\s?\d{1,6}\b)?";
    let months = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|\
                  august|september|october|november|december";
    // `\s{1,4}` rather than `\s+` keeps every spaced match shorter than MAX_SPACED_MATCH
    let date = format!(
        r"(?i)\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d{{1,9}})?)?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?|\d{{4}}/\d{{1,2}}/\d{{1,2}}|\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:\d{{4}}|\d{{2}})(?:,?\s{{1,4}}\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s{{0,4}}[ap]\.?m\.?)?)?|(?:\d{{1,2}}(?:st|nd|rd|th)?\s{{1,4}}(?:of\s{{1,4}})?)?(?:{months})\.?(?:\s{{1,4}}\d{{1,2}}(?:st|nd|rd|th)?)?,?\s{{1,4}}\d{{4}}|(?:{months})\.?\s{{1,4}}\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}:\d{{2}}(?::\d{{2}})?\s{{0,4}}[ap]\.?m\.?|(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d)\b"
    );
    // fiscal code: omocodia replaces digits by the letters L-V
    let fd = "[0-9LMNPQRSTUV]";
    let fiscal = format!(r"\b[A-Z]{{6}}{fd}{{2}}[ABCDEHLMPRST]{fd}{{2}}[A-Z]{fd}{{3}}[A-Z]\b");
    let raw: Vec<(Rec, String)> = vec![
        (
            Rec::Email,
            r"(?i)[a-z0-9][a-z0-9._%+\-]*@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b".into(),
        ),
        (
            Rec::Url,
            format!(
                r#"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>"'`{{}}|\\^\[\]]+|\b(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{TLDS})\b(?:/[^\s<>"'`]*)?"#
            ),
        ),
        (Rec::Ipv4, r"\b\d{1,3}(?:\.\d{1,3}){3}\b".into()),
        (
            Rec::Ipv6,
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4})?(?:%[0-9a-z]+)?".into(),
        ),
        (
            Rec::Card,
            r"\b(?:\d{4}[ \-]\d{4}[ \-]\d{4,5}(?:[ \-]\d{1,4})?(?:[ \-]\d{3})?|\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{12,19})\b"
                .into(),
        ),
        (Rec::Iban, r"(?i)\b[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]{1,4}){3,9}\b".into()),
        (
            Rec::SsnItin,
            r"\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{3}\.\d{2}\.\d{4}|\d{9})\b".into(),
        ),
        (Rec::Phone, phone.into()),
        (Rec::Base58, r"\b[13][1-9A-HJ-NP-Za-km-z]{25,34}\b".into()),
        (Rec::Bech32, r"(?i)\bbc1[ac-hj-np-z02-9]{8,87}\b".into()),
        (Rec::Nhs, r"\b\d{3}[ \-]?\d{3}[ \-]?\d{4}\b".into()),
        (Rec::Tfn, r"\b\d{3}[ \-]?\d{3}[ \-]?\d{3}\b".into()),
        (Rec::Medicare, r"\b[2-6]\d{3}[ \-]?\d{5}[ \-]?\d(?:[ \-/]?\d)?\b".into()),
        (Rec::Nric, r"(?i)\b[stfg]\d{7}[a-z]\b".into()),
        (Rec::Nif, r"(?i)\b\d{8}-?[a-z]\b".into()),
        (Rec::Date, date),
        (Rec::Digits, r"\b\d{6,17}\b".into()),
        (Rec::LettersDigits, r"\b[A-Z]{1,2}\d{4,14}[A-Z]{0,2}\b".into()),
        (Rec::ItCardSpaced, r"\b[A-Z]{2} \d{7}\b".into()),
        (Rec::ItLicenceU1, r"\bU1[A-Z0-9]{7}[A-Z]\b".into()),
        (Rec::ItVatPrefixed, r"\bIT ?\d{11}\b".into()),
        (Rec::FiscalCode, fiscal),
    ];
    raw.into_iter().map(|(r, p)| (r, ascii(&p))).collect()
}

/// Context words by type (matched case-insensitively; Latin-script words only as whole words). A word may serve
/// several types.
pub(crate) fn context_words() -> Vec<(EntityType, &'static [&'static str])> {
    vec![
        (
            E::PHONE_NUMBER,
            &[
                "phone",
                "telephone",
                "tel",
                "call",
                "calling",
                "mobile",
                "cell",
                "cellphone",
                "whatsapp",
                "wechat",
                "fax",
                "contact",
                "desk",
                "office",
                "dial",
                "landline",
                "sms",
                "text me",
                "ring",
                "reach",
                "ph",
                "mob",
                "电话",
                "手机",
                "联系",
                "号码",
            ],
        ),
        (
            E::CREDIT_CARD,
            &[
                "card",
                "credit",
                "debit",
                "visa",
                "mastercard",
                "amex",
                "payment",
                "cc",
                "cvv",
                "卡号",
                "信用卡",
            ],
        ),
        (
            E::IBAN_CODE,
            &["iban", "bank", "account", "transfer", "swift", "bic", "账户"],
        ),
        (
            E::US_SSN,
            &[
                "ssn",
                "social security",
                "social",
                "ssns",
                "security number",
                "社会安全号",
            ],
        ),
        (E::US_ITIN, &["itin", "taxpayer", "tax id", "tax"]),
        (E::UK_NHS, &["nhs", "national health", "health service", "patient"]),
        (E::AU_TFN, &["tfn", "tax file", "tax file number"]),
        (E::AU_MEDICARE, &["medicare"]),
        (E::SG_NRIC_FIN, &["nric", "fin", "ic", "identity card"]),
        (E::ES_NIF, &["nif", "dni", "documento"]),
        (
            E::IP_ADDRESS,
            &["ip", "ipv4", "ipv6", "server", "host", "address", "addr"],
        ),
        (E::EMAIL_ADDRESS, &["email", "e-mail", "mail", "邮箱"]),
        (E::CRYPTO, &["bitcoin", "btc", "wallet", "crypto"]),
        (E::URL, &["url", "website", "site", "link", "http"]),
        (
            E::DATE_TIME,
            &["date", "born", "birthday", "dob", "when", "time", "出生"],
        ),
        (
            E::MEDICAL_LICENSE,
            &[
                "dea",
                "medical",
                "license",
                "licence",
                "prescriber",
                "physician",
                "registration",
            ],
        ),
        (
            E::US_BANK_NUMBER,
            &[
                "bank", "banking", "account", "acct", "checking", "savings", "deposit", "routing",
            ],
        ),
        (
            E::US_DRIVER_LICENSE,
            &["driver", "driving", "license", "licence", "dl", "permit", "dmv"],
        ),
        (E::US_PASSPORT, &["passport", "travel document"]),
        (
            E::IT_FISCAL_CODE,
            &["codice fiscale", "fiscale", "cf", "fiscal code", "tax code"],
        ),
        (E::IT_VAT_CODE, &["partita iva", "p.iva", "piva", "iva", "vat"]),
        (
            E::IT_DRIVER_LICENSE,
            &[
                "patente",
                "guida",
                "driving licence",
                "driving license",
                "driver",
                "license",
                "licence",
            ],
        ),
        (E::IT_PASSPORT, &["passaporto", "passport"]),
        (
            E::IT_IDENTITY_CARD,
            &[
                "carta d'identità",
                "carta di identità",
                "carta d'identita",
                "carta di identita",
                "identity card",
                "id card",
                "cie",
            ],
        ),
    ]
}
