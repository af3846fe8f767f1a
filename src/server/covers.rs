//! The cover the shop draws for a book the upstream catalog has no picture
//! of: an SVG of its title and author over a pattern. The pattern and its
//! colours come from a hash of the book's id, so a book keeps its cover and
//! two books rarely share one; the words come from the catalog, so a changed
//! title draws a new cover (and `Book::cover_href` gives it a new address).
//!
//! Drawn by hand rather than with a template or chart crate: a dozen
//! `write!`s of a few shapes into one string, about a kilobyte, made in
//! microseconds.

use std::fmt::Write;

use crate::shared::stock::fnv1a_of;

/// Background colours, each dark enough that the pattern's white reads on it
/// and distinct from its neighbours.
const BACKGROUNDS: [&str; 12] = [
    "#8e2c1f", "#1f3a5f", "#2f5d3a", "#5b2a52", "#1d5c63", "#7a5a0b", "#3d4451", "#a0461d",
    "#3b3b8f", "#5f6b2a", "#6d1a36", "#2b4f7a",
];
/// The title panel's paper and ink: 16:1, legible at any size.
const PAPER: &str = "#fbf8f2";
const INK: &str = "#1d1b18";
/// The author's line: 9:1 on the paper.
const MUTED: &str = "#4a443c";

/// Letters per line of the title, and lines before it is cut with "…":
/// 22-unit Georgia in a 176-unit-wide panel.
const TITLE_LINE: usize = 14;
const TITLE_LINES: usize = 4;
/// Letters of the author's line before it is cut.
const AUTHOR_LINE: usize = 24;

/// The cover of book `id` titled `title` by `author`, as an SVG document
/// (200 × 300, the shape of a paperback).
pub fn draw(id: &str, title: &str, author: &str) -> String {
    let hash = fnv1a_of(id.as_bytes());
    let background = BACKGROUNDS[(hash % BACKGROUNDS.len() as u64) as usize];
    let mut svg = String::with_capacity(1400);
    svg.push_str(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 300" width="200" height="300">"##,
    );
    let _ = write!(
        svg,
        r##"<rect width="200" height="300" fill="{background}"/>"##
    );
    pattern(&mut svg, hash >> 8);
    let lines = wrap(title, TITLE_LINE, TITLE_LINES);
    // The panel grows with the title and sits a little above the middle.
    let panel_height = 34 + 26 * lines.len() as u32 + 26;
    let top = 128 - panel_height / 2;
    let _ = write!(
        svg,
        r##"<rect x="12" y="{top}" width="176" height="{panel_height}" fill="{PAPER}"/><g font-family="Georgia,serif" text-anchor="middle" fill="{INK}"><text font-size="22" font-weight="bold">"##
    );
    for (n, line) in lines.iter().enumerate() {
        let y = top + 34 + 26 * n as u32;
        let _ = write!(svg, r##"<tspan x="100" y="{y}">"##);
        escape_into(&mut svg, line);
        svg.push_str("</tspan>");
    }
    let author_y = top + panel_height - 14;
    let _ = write!(
        svg,
        r##"</text><text x="100" y="{author_y}" font-size="14" font-style="italic" fill="{MUTED}">"##
    );
    let author = wrap(author, AUTHOR_LINE, 1);
    escape_into(&mut svg, author.first().map_or("", String::as_str));
    svg.push_str("</text></g></svg>");
    svg
}

/// One of four patterns over the background, its spacing and angle from
/// `bits`: stripes, dots, rings from a corner, or bands.
fn pattern(svg: &mut String, bits: u64) {
    // Shifted by up to 19 units each way, so covers of the same pattern
    // and colour still differ. The filled rectangles reach past the edges
    // by as much.
    let (dx, dy) = ((bits >> 12) % 20, (bits >> 17) % 20);
    let _ = write!(svg, r##"<g transform="translate(-{dx} -{dy})">"##);
    let kind = bits % 4;
    let step = 12 + (bits >> 2) % 12;
    let angle = [30, 45, 60, 120, 135, 150][((bits >> 6) % 6) as usize];
    let ink = r##"fill="#fff" fill-opacity=".16""##;
    match kind {
        0 => {
            let _ = write!(
                svg,
                r##"<defs><pattern id="p" width="{step}" height="{step}" patternUnits="userSpaceOnUse" patternTransform="rotate({angle})"><rect width="{}" height="{step}" {ink}/></pattern></defs><rect width="240" height="340" fill="url(#p)"/>"##,
                step / 2
            );
        }
        1 => {
            let r = 2 + step / 6;
            let _ = write!(
                svg,
                r##"<defs><pattern id="p" width="{step}" height="{step}" patternUnits="userSpaceOnUse" patternTransform="rotate({angle})"><circle cx="{r}" cy="{r}" r="{r}" {ink}/></pattern></defs><rect width="240" height="340" fill="url(#p)"/>"##
            );
        }
        2 => {
            let (cx, cy) = [(0, 0), (200, 0), (0, 300), (200, 300)][((bits >> 9) % 4) as usize];
            for ring in 1..=6u64 {
                let _ = write!(
                    svg,
                    r##"<circle cx="{cx}" cy="{cy}" r="{}" fill="none" stroke="#fff" stroke-opacity=".16" stroke-width="{}"/>"##,
                    ring * step * 4,
                    step
                );
            }
        }
        _ => {
            for band in 0..3u64 {
                let y = 12 + band * (step + 10);
                let _ = write!(
                    svg,
                    r##"<rect y="{y}" width="240" height="{}" {ink}/><rect y="{}" width="240" height="{}" {ink}/>"##,
                    step / 2,
                    288 - y - step / 2,
                    step / 2
                );
            }
        }
    }
    svg.push_str("</g>");
}

/// `text` in lines of at most `width` letters, broken between words (a
/// word longer than a line is broken inside it), at most `max` lines; the
/// last ends with "…" when words were left out. Control characters and the
/// two noncharacters U+FFFE and U+FFFF, which XML may not hold (a cover
/// holding one would not draw at all), become spaces.
fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '\u{FFFE}' | '\u{FFFF}' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut cut = false;
    'words: for word in clean.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let room = if used == 0 {
                width
            } else {
                width.saturating_sub(used + 1)
            };
            if word.len() <= room {
                if used > 0 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used == 0 {
                // A word longer than a line: its first `width` letters here.
                current.extend(word.drain(..width));
            }
            lines.push(std::mem::take(&mut current));
            if lines.len() == max {
                cut = true;
                break 'words;
            }
        }
    }
    if !current.is_empty() && lines.len() < max {
        lines.push(current);
    }
    if cut {
        if let Some(last) = lines.last_mut() {
            let mut letters: Vec<char> = last.chars().collect();
            letters.truncate(width - 1);
            *last = letters
                .into_iter()
                .collect::<String>()
                .trim_end()
                .to_string()
                + "…";
        }
    }
    lines
}

/// `text` as SVG character data and attribute text: the five characters
/// XML gives meaning to are written as references.
fn escape_into(svg: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => svg.push_str("&amp;"),
            '<' => svg.push_str("&lt;"),
            '>' => svg.push_str("&gt;"),
            '"' => svg.push_str("&quot;"),
            '\'' => svg.push_str("&#39;"),
            c => svg.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::stock::COVER_DESIGN;

    #[test]
    fn the_same_book_always_gets_the_same_cover_and_two_books_two() {
        let sicp = draw("sicp", "Structure and Interpretation", "Abelson");
        assert_eq!(
            sicp,
            draw("sicp", "Structure and Interpretation", "Abelson")
        );
        assert_ne!(
            sicp,
            draw("sicp-2", "Structure and Interpretation", "Abelson")
        );
        // Over many ids, the colours and patterns spread: no two of the
        // first hundred ids draw the same picture under the same words.
        let covers: std::collections::HashSet<String> = (0..100)
            .map(|n| draw(&format!("book-{n}"), "Same", "Same"))
            .collect();
        assert_eq!(covers.len(), 100);
        let backgrounds: std::collections::HashSet<&str> = (0..100)
            .map(|n| BACKGROUNDS[(fnv1a_of(format!("book-{n}").as_bytes()) % 12) as usize])
            .collect();
        assert_eq!(backgrounds.len(), BACKGROUNDS.len(), "every colour is used");
    }

    #[test]
    fn markup_in_a_title_or_author_is_text_in_the_cover() {
        let svg = draw(
            "x",
            "<script>alert(1)</script> & \"quotes\" 'too'",
            "A <b>bold</b> & \"sly\" author",
        );
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("&amp;"), "{svg}");
        assert!(svg.contains("&quot;quotes&quot;"), "{svg}");
        assert!(svg.contains("&#39;too&#39;"), "{svg}");
        assert!(!svg.contains(" & "), "a bare ampersand: {svg}");
        // Control characters XML cannot hold are gone.
        assert!(!draw("x", "bell\u{7}", "nul\u{0}").contains(['\u{7}', '\u{0}']));
        assert!(!draw("x", "not\u{FFFE}", "xml\u{FFFF}").contains(['\u{FFFE}', '\u{FFFF}']));
    }

    /// Every design the covers have had, with a hash of what it draws for
    /// a few books. A drawn cover is cached for a year under an address
    /// that holds `COVER_DESIGN`, so a change to the drawing that kept the
    /// design would never reach a browser that has the old one. Such a
    /// change fails here: it needs the next `COVER_DESIGN` and a new row,
    /// not an edited one.
    const DESIGNS: &[(&str, u64)] = &[("1", 0x7e812d3753c5c093_u64)];

    #[test]
    fn a_changed_drawing_comes_with_a_new_design() {
        let drawn = [
            ("sicp", "Structure and Interpretation", "Abelson"),
            ("dune", "Dune", "Frank Herbert"),
            ("a-very-long-id-0001", &"word ".repeat(30), "Somebody & Co"),
            ("book-4", "The Left Hand of Darkness", "Ursula K. Le Guin"),
            ("ubik", "Ab", "C"),
        ];
        // Between them, every kind of pattern is drawn.
        let kinds: std::collections::HashSet<u64> = drawn
            .iter()
            .map(|(id, _, _)| (fnv1a_of(id.as_bytes()) >> 8) % 4)
            .collect();
        assert_eq!(kinds.len(), 4, "stripes, dots, rings and bands");
        let drawn: String = drawn
            .iter()
            .map(|(id, title, author)| draw(id, title, author))
            .collect();
        let (design, pinned) = DESIGNS[DESIGNS.len() - 1];
        assert_eq!(design, COVER_DESIGN, "the newest design is the one in use");
        assert_eq!(
            fnv1a_of(drawn.as_bytes()),
            pinned,
            "the drawing changed: give it the next COVER_DESIGN and add its row"
        );
        let designs: std::collections::HashSet<_> = DESIGNS.iter().map(|(d, _)| d).collect();
        assert_eq!(designs.len(), DESIGNS.len(), "one row per design");
    }

    #[test]
    fn titles_wrap_between_words_and_a_long_one_is_cut() {
        assert_eq!(
            wrap("The Left Hand of Darkness", 14, 4),
            ["The Left Hand", "of Darkness"]
        );
        assert_eq!(
            wrap("Supercalifragilisticexpialidocious", 14, 4),
            ["Supercalifragi", "listicexpialid", "ocious"]
        );
        let long = wrap(&"word ".repeat(40), 14, 4);
        assert_eq!(long.len(), 4);
        assert!(long.iter().all(|l| l.chars().count() <= 14), "{long:?}");
        assert!(long[3].ends_with('…'), "{long:?}");
        assert_eq!(wrap("", 14, 4), Vec::<String>::new());
        assert_eq!(wrap("  Dune  ", 14, 4), ["Dune"]);
    }

    #[test]
    fn a_cover_stays_small_however_long_its_words() {
        // Raw size: what goes over the wire compressed is smaller still.
        let longest = draw(&"i".repeat(64), &"&<>\"' ".repeat(200), &"&".repeat(500));
        assert!(longest.len() <= 4096, "{} bytes", longest.len());
        for n in 0..50 {
            let svg = draw(&format!("b{n}"), "A Title Of Some Length Here", "An Author");
            assert!(svg.len() <= 2048, "{} bytes: {svg}", svg.len());
        }
    }
}
