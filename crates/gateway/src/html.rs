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
                    out.push_str(&escape(word));
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
}
