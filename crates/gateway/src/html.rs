//! Plain text to the HTML Mastodon clients render, and HTML escaping.

use model::domain::is_url;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Paragraphs on blank lines, `<br>` on single newlines, links on URLs;
/// everything else escaped.
pub fn render_text(text: &str) -> String {
    render_with(text, |word, out| out.push_str(&escape(word)))
}

/// The public page of account `username`: where `Account.url`, a
/// mention's `url` and a mention's link in `content` point.
pub fn profile_url(base: &str, username: &str) -> String {
    format!("{base}/@{username}")
}

/// The public page of hashtag `name` (as written; linked by its
/// normalized form): `Status.tags[].url`, `Tag.url` and a hashtag's link.
pub fn tag_url(base: &str, name: &str) -> String {
    format!("{base}/tags/{}", model::text::normalize_hashtag(name))
}

/// The host of base URL `base` without its port, lower case: the domain
/// in `@user@domain` that names a local account.
pub fn local_domain(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    };
    host.to_ascii_lowercase()
}

/// Whether a mention written with `domain` names a local account.
pub fn is_local(domain: Option<&str>, local: &str) -> bool {
    domain.is_none_or(|d| d.eq_ignore_ascii_case(local))
}

/// A post's text as HTML: as [`render_text`], and the local accounts it
/// mentioned when written (`mentions`) linked to their profiles as
/// Mastodon marks them (`h-card`), its hashtags to their timelines. A
/// mention of anyone else stays plain text.
pub fn render_post(text: &str, mentions: &[posts::Mentioned], base: &str) -> String {
    if mentions.is_empty() && !text.contains('#') {
        return render_text(text);
    }
    let local = local_domain(base);
    render_with(text, |word, out| {
        if !word.contains(['@', '#']) {
            out.push_str(&escape(word));
            return;
        }
        // Each link: (start, end, html), in order, none overlapping.
        let mut links: Vec<(usize, usize, String)> = Vec::new();
        for m in model::text::mentions(word) {
            if !is_local(m.domain, &local) {
                continue;
            }
            if let Some(to) = mentions.iter().find(|a| a.username.eq_ignore_ascii_case(m.username)) {
                let (user, href) = (escape(&to.username), escape(&profile_url(base, &to.username)));
                links.push((
                    m.span.0,
                    m.span.1,
                    format!(
                        r#"<span class="h-card" translate="no"><a href="{href}" class="u-url mention">@<span>{user}</span></a></span>"#
                    ),
                ));
            }
        }
        for h in model::text::hashtags(word) {
            let (name, href) = (escape(h.name), escape(&tag_url(base, h.name)));
            links.push((
                h.span.0,
                h.span.1,
                format!(r#"<a href="{href}" class="mention hashtag" rel="tag">#<span>{name}</span></a>"#),
            ));
        }
        links.sort_by_key(|l| l.0);
        let mut at = 0;
        for (start, end, html) in links {
            if start < at {
                continue;
            }
            out.push_str(&escape(&word[at..start]));
            out.push_str(&html);
            at = end;
        }
        out.push_str(&escape(&word[at..]));
    })
}

/// Paragraphs, line breaks and URL links around `plain`, which renders
/// every other word.
fn render_with(text: &str, plain: impl Fn(&str, &mut String)) -> String {
    let normalized = text.replace("\r\n", "\n");
    let mut out = String::new();
    for para in normalized.split("\n\n").filter(|p| !p.trim().is_empty()) {
        out.push_str("<p>");
        for (i, line) in para.split('\n').enumerate() {
            if i > 0 {
                out.push_str("<br />");
            }
            for (j, word) in line.split(' ').enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                if is_url(word) {
                    let e = escape(word);
                    out.push_str(&format!(
                        r#"<a href="{e}" rel="nofollow noopener noreferrer" target="_blank">{e}</a>"#
                    ));
                } else {
                    plain(word, &mut out);
                }
            }
        }
        out.push_str("</p>");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped_paragraphed_and_linked() {
        assert_eq!(super::render_text("a <b>\nc\n\nd"), "<p>a &lt;b&gt;<br />c</p><p>d</p>");
        assert!(super::render_text("see https://x.org").contains(r#"<a href="https://x.org""#));
    }

    fn alice() -> Vec<posts::Mentioned> {
        vec![posts::Mentioned { id: model::Id::from_i64(7), username: "alice".into() }]
    }

    #[test]
    fn local_mentions_and_hashtags_are_linked_as_mastodon_marks_them() {
        let html = super::render_post("hi @Alice@Social.Example:\n#Rust & @bob", &alice(), "https://social.example");
        assert_eq!(
            html,
            concat!(
                r#"<p>hi <span class="h-card" translate="no"><a href="https://social.example/@alice" class="u-url mention">@<span>alice</span></a></span>:"#,
                r#"<br /><a href="https://social.example/tags/rust" class="mention hashtag" rel="tag">#<span>Rust</span></a> &amp; @bob</p>"#
            ),
            "an unknown @bob stays plain text"
        );
    }

    #[test]
    fn mentions_of_other_servers_and_markup_in_tags_stay_text() {
        let html = super::render_post("@alice@elsewhere.org (#a<b>)", &alice(), "http://127.0.0.1:8080");
        assert!(html.starts_with("<p>@alice@elsewhere.org ("), "{html}");
        assert!(html.contains(r#"#<span>a</span></a>&lt;b&gt;)"#), "{html}");
        assert_eq!(super::local_domain("http://[::1]:8080/x"), "::1");
    }
}
