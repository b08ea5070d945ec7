//! A minimal table writer: every cell's text is escaped unless the caller
//! hands over markup it built itself.

use super::text::escape;

pub enum Cell {
    Text(String),
    /// Right-aligned, for numbers and money.
    Num(String),
    /// Markup built by this module's callers from escaped parts.
    Html(String),
}

pub fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

pub fn num(s: impl Into<String>) -> Cell {
    Cell::Num(s.into())
}

pub fn html(s: impl Into<String>) -> Cell {
    Cell::Html(s.into())
}

/// Column headings; a heading ending in `#` is right-aligned (the `#` is dropped).
pub struct Table {
    out: String,
}

impl Table {
    pub fn new(headings: &[&str]) -> Table {
        let mut out = String::from("<table><thead><tr>");
        for h in headings {
            match h.strip_suffix('#') {
                Some(h) => out.push_str(&format!(r#"<th class="n">{}</th>"#, escape(h))),
                None => out.push_str(&format!("<th>{}</th>", escape(h))),
            }
        }
        out.push_str("</tr></thead><tbody>");
        Table { out }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.row_with_class("", cells);
    }

    pub fn total_row(&mut self, cells: Vec<Cell>) {
        self.row_with_class(r#" class="total""#, cells);
    }

    fn row_with_class(&mut self, class: &str, cells: Vec<Cell>) {
        self.out.push_str(&format!("<tr{class}>"));
        for cell in cells {
            match cell {
                Cell::Text(t) => self.out.push_str(&format!("<td>{}</td>", escape(&t))),
                Cell::Num(t) => self
                    .out
                    .push_str(&format!(r#"<td class="n">{}</td>"#, escape(&t))),
                Cell::Html(h) => self.out.push_str(&format!("<td>{h}</td>")),
            }
        }
        self.out.push_str("</tr>");
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</tbody></table>");
        self.out
    }
}
