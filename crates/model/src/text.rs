//! What a post's text names: `@mentions` and `#hashtags`, found by
//! Mastodon's rules so that a client's highlighting and the server's
//! agree.
//!
//! * A mention is `@user` or `@user@domain`, not preceded by a word
//!   character, `=` or `/` (so `a@b.org` and `https://x/@y` are not
//!   mentions). A username is ASCII letters, digits and `_`, with `.` and
//!   `-` allowed inside; a domain is word characters, `.` and `-`, ending
//!   in a word character (Mastodon's `Account::MENTION_RE`).
//! * A hashtag is `#name`, not preceded by a letter or digit, `=`, `/` or
//!   `)`. A name is letters, marks, digits and `_`, with `·`, `・` and the
//!   zero-width non-joiner allowed inside; all digits is no hashtag (`#1`
//!   is a number), unless a separator stands inside (`#1_2`) (Mastodon's
//!   `Tag::HASHTAG_RE`).
//!
//! Nothing here resolves a mention to an account: that is `users`'.

/// One mention as written: the username and, for `@user@domain`, the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention<'a> {
    /// Where it starts in the text (the `@`), and where it ends.
    pub span: (usize, usize),
    pub username: &'a str,
    pub domain: Option<&'a str>,
}

/// One hashtag as written, without its `#`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashtag<'a> {
    /// Where it starts in the text (the `#`), and where it ends.
    pub span: (usize, usize),
    pub name: &'a str,
}

/// Characters allowed inside a hashtag name but not at its ends.
fn hashtag_separator(c: char) -> bool {
    matches!(c, '\u{00B7}' | '\u{30FB}' | '\u{200C}')
}

/// Letters, marks, digits and `_`: Ruby's `[[:word:]]` as Mastodon uses it.
fn word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_mark(c)
}

/// Combining marks (the common blocks; `char` has no category lookup).
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}'
        | '\u{0E31}' | '\u{0E34}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}' | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{3099}' | '\u{309A}' | '\u{FE20}'..='\u{FE2F}')
}

/// The character before byte `at`, if any.
fn before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// Every mention in `text`, in order.
pub fn mentions(text: &str) -> Vec<Mention<'_>> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        if before(text, at).is_some_and(|c| word(c) || c == '=' || c == '/' || c == '@') {
            continue;
        }
        let rest = &text[at + 1..];
        let user_len = username_len(rest);
        if user_len == 0 {
            continue;
        }
        let username = &rest[..user_len];
        let after = &rest[user_len..];
        let (domain, end) = match after.strip_prefix('@').map(domain_len) {
            Some(n) if n > 0 => (Some(&after[1..1 + n]), at + 1 + user_len + 1 + n),
            _ => (None, at + 1 + user_len),
        };
        out.push(Mention { span: (at, end), username, domain });
    }
    out
}

/// Length of the username at the start of `s`: ASCII letters, digits and
/// `_`, with `.` and `-` inside only.
fn username_len(s: &str) -> usize {
    let inner = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let run = s.find(|c: char| !(inner(c) || c == '.' || c == '-')).unwrap_or(s.len());
    let run = &s[..run];
    if !run.starts_with(inner) {
        return 0;
    }
    run.trim_end_matches(['.', '-']).len()
}

/// Length of the domain at the start of `s`: word characters, `.` and
/// `-`, ending in a word character.
fn domain_len(s: &str) -> usize {
    let run = s.find(|c: char| !(word(c) || c == '.' || c == '-')).unwrap_or(s.len());
    s[..run].trim_end_matches(['.', '-']).len()
}

/// Every hashtag in `text`, in order.
pub fn hashtags(text: &str) -> Vec<Hashtag<'_>> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices('#') {
        if before(text, at).is_some_and(|c| c.is_alphanumeric() || c == '=' || c == '/' || c == ')' || c == '#') {
            continue;
        }
        let rest = &text[at + 1..];
        let run = rest.find(|c: char| !(word(c) || hashtag_separator(c))).unwrap_or(rest.len());
        let name = rest[..run].trim_end_matches(hashtag_separator);
        if name.starts_with(hashtag_separator) || !is_hashtag_name(name) {
            continue;
        }
        out.push(Hashtag { span: (at, at + 1 + name.len()), name });
    }
    out
}

/// Whether `name` (already limited to hashtag characters) is a hashtag:
/// not empty, and not all digits unless a separator stands inside.
fn is_hashtag_name(name: &str) -> bool {
    let inside = |c: char| c == '_' || hashtag_separator(c);
    name.chars().any(|c| c.is_alphabetic() || is_mark(c))
        || (name.chars().count() >= 3 && name.chars().skip(1).take(name.chars().count() - 2).any(inside))
}

/// Longest hashtag name accepted where a client names one (a path, a
/// query): Mastodon's tag names are limited alike.
pub const MAX_HASHTAG_CHARS: usize = 100;

/// Whether `name` (without `#`) is a whole hashtag name, as a route that
/// takes one by name requires.
pub fn is_hashtag(name: &str) -> bool {
    name.chars().count() <= MAX_HASHTAG_CHARS
        && !name.starts_with(hashtag_separator)
        && !name.ends_with(hashtag_separator)
        && name.chars().all(|c| word(c) || hashtag_separator(c))
        && is_hashtag_name(name)
}

/// The hashtag a client names (`rust` or `#rust`), without its `#`, if it
/// is a whole hashtag name.
pub fn hashtag_named(raw: &str) -> Option<&str> {
    let name = raw.strip_prefix('#').unwrap_or(raw);
    is_hashtag(name).then_some(name)
}

/// The form hashtags are compared and stored in: lower case (`#Rust` and
/// `#rust` are one tag, the first spelling is shown).
pub fn normalize_hashtag(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(text: &str) -> Vec<(String, Option<String>)> {
        mentions(text).into_iter().map(|m| (m.username.to_string(), m.domain.map(String::from))).collect()
    }

    fn tags(text: &str) -> Vec<&str> {
        hashtags(text).into_iter().map(|h| h.name).collect()
    }

    #[test]
    fn whole_names_are_hashtags_and_fragments_are_not() {
        for ok in ["rust", "Zürich", "日本語", "1_2", "a·b", "x1"] {
            assert!(is_hashtag(ok), "{ok}");
        }
        for bad in ["", "123", "a b", "a#b", "·a", "a-b", "a/b", &"x".repeat(MAX_HASHTAG_CHARS + 1)] {
            assert!(!is_hashtag(bad), "{bad}");
        }
        assert_eq!((hashtag_named("#Rust"), hashtag_named("Rust")), (Some("Rust"), Some("Rust")));
        assert_eq!((hashtag_named("##rust"), hashtag_named("#")), (None, None));
    }

    #[test]
    fn mentions_follow_mastodons_rules() {
        let one = |u: &str| vec![(u.to_string(), None)];
        assert_eq!(users("hi @alice!"), one("alice"));
        assert_eq!(users("@bob, and @carol_1."), vec![("bob".into(), None), ("carol_1".into(), None)]);
        assert_eq!(users("(@dave)"), one("dave"));
        assert_eq!(users("@e.f-g."), one("e.f-g"), "dots and dashes inside, not at the end");
        assert_eq!(users("@ann@example.org: hello"), vec![("ann".into(), Some("example.org".into()))]);
        assert_eq!(users("@ann@example.org."), vec![("ann".into(), Some("example.org".into()))]);
        assert_eq!(users("@ann@"), one("ann"));
        for none in ["mail me at a@b.org", "https://x.org/@y", "key=@z", "@", "@.", "@@x", "@-x", "über@x"] {
            assert!(users(none).is_empty(), "{none:?}: {:?}", users(none));
        }
        let text = "to @Ann and @ann@here";
        let spans: Vec<&str> = mentions(text).iter().map(|m| &text[m.span.0..m.span.1]).collect();
        assert_eq!(spans, ["@Ann", "@ann@here"]);
    }

    #[test]
    fn hashtags_follow_mastodons_rules() {
        assert_eq!(tags("#rust is #Fun"), ["rust", "Fun"]);
        assert_eq!(tags("#日本語 #café #über_alles #a·b"), ["日本語", "café", "über_alles", "a·b"]);
        assert_eq!(tags("#1_2 #2024 #x2"), ["1_2", "x2"], "all digits is a number");
        assert_eq!(tags("#tag. #tag, (#tag) #tag!"), ["tag", "tag", "tag", "tag"]);
        for none in ["a#b", "https://x.org/#frag", "x=#y", "(x)#y", "#", "##x", "# x", "#·x", "#123"] {
            assert!(tags(none).is_empty(), "{none:?}: {:?}", tags(none));
        }
        assert_eq!(tags("#a·"), ["a"], "a separator does not end a tag");
        let text = "see #Ünïcode";
        let h = &hashtags(text)[0];
        assert_eq!(&text[h.span.0..h.span.1], "#Ünïcode");
        assert_eq!(normalize_hashtag(h.name), "ünïcode");
    }

    /// Any text at all: spans are on character boundaries, in order,
    /// start at their sigil and never overlap.
    #[test]
    fn spans_are_sound_on_arbitrary_text() {
        let mut seed = 0x1234_5678_9abc_def0_u64;
        let alphabet: Vec<char> = "@#ab_.-=/)(1 ·\u{200C}é日\u{0301}x:".chars().collect();
        for _ in 0..5000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let mut last = 0;
            for m in mentions(&text) {
                assert!(m.span.0 >= last && text.is_char_boundary(m.span.1), "{text:?}");
                assert!(text[m.span.0..].starts_with('@'));
                last = m.span.1;
            }
            let mut last = 0;
            for h in hashtags(&text) {
                assert!(h.span.0 >= last && text.is_char_boundary(h.span.1), "{text:?}");
                assert_eq!(&text[h.span.0 + 1..h.span.1], h.name);
                last = h.span.1;
            }
        }
    }
}
