//! Markdown from people, rendered to HTML that is safe to show: pulldown-cmark renders it and
//! ammonia keeps only harmless tags and attributes (no scripts, no event handlers, only
//! http(s) and mailto links, each opened without giving the target page access to ours).

use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser, html};

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .rm_tags(["img"]);
    builder
});

/// Escapes plain text for HTML (what askama does for `{{ }}`), for text kept as pre-rendered HTML.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders Markdown to sanitised HTML.
pub fn to_safe_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let mut unsafe_html = String::new();
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    CLEANER.clean(&unsafe_html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_escaped() {
        assert_eq!(escape_text("<b>\"Tom\" & 'Jerry'</b>"), "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;");
    }

    #[test]
    fn formatting_survives() {
        let html = to_safe_html("**p99** went to `900 ms`, see [dash](https://grafana.example/d/1)");
        assert!(html.contains("<strong>p99</strong>"));
        assert!(html.contains("<code>900 ms</code>"));
        assert!(html.contains(r#"href="https://grafana.example/d/1""#));
        assert!(html.contains("noopener"));
    }

    #[test]
    fn scripts_handlers_and_unsafe_links_are_removed() {
        let inputs = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(2)>",
            "[click](javascript:alert(3))",
            "<a href=\"data:text/html,x\">d</a>",
            "<b onclick=\"x()\">bold</b>",
            "<iframe src=\"https://evil.example\"></iframe>",
        ];
        for input in inputs {
            let html = to_safe_html(input);
            for bad in ["<script", "onerror", "href=\"javascript", "href=\"data", "onclick", "<img", "<iframe"] {
                assert!(!html.contains(bad), "{bad} survived in {html}");
            }
        }
        assert!(to_safe_html("<b onclick=\"x()\">bold</b>").contains("<b>bold</b>"));
    }
}
